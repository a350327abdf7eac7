-- The client's invoicing data as it stands in production (a small, fixed extract).
CREATE ROLE invoices LOGIN PASSWORD 'invoices';
CREATE DATABASE invoices OWNER invoices;
\connect invoices invoices

CREATE TABLE customers (
    id      serial PRIMARY KEY,
    name    text NOT NULL,
    city    text NOT NULL
);

CREATE TABLE invoices (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers(id),
    issued      date NOT NULL,
    amount      numeric(10, 2) NOT NULL,
    paid        boolean NOT NULL DEFAULT false
);

INSERT INTO customers (name, city)
SELECT 'Customer ' || n, (ARRAY['Berlin', 'Hamburg', 'Munich', 'Cologne'])[1 + n % 4]
FROM generate_series(1, 12) AS n;

INSERT INTO invoices (customer_id, issued, amount, paid)
SELECT 1 + n % 12, DATE '2026-01-05' + n * 3, round(80 + (n * 37 % 900) + 0.5, 2), n % 3 <> 0
FROM generate_series(1, 42) AS n;
