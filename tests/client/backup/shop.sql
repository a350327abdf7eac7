-- The shop's catalogue, as pg_dump wrote it (plain SQL).
SET client_encoding = 'UTF8';
CREATE TABLE public.products (
    id integer PRIMARY KEY,
    name text NOT NULL,
    price numeric(10,2) NOT NULL,
    added date NOT NULL
);
ALTER TABLE public.products OWNER TO shop;
COPY public.products (id, name, price, added) FROM stdin;
1	Linen napkins, set of 4	24.90	2025-11-02
2	Oak serving board	59.00	2025-11-14
3	Linen tablecloth	89.50	2026-01-08
\.
