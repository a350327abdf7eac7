-- A dump whose load takes two minutes: the pilot is interrupted, or its deadline passes, meanwhile.
CREATE TABLE orders (id integer PRIMARY KEY, total numeric(10, 2));
INSERT INTO orders VALUES (1, 10.00), (2, 20.00);
SELECT pg_sleep(120);
