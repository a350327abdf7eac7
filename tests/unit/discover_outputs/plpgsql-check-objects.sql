CREATE DATABASE shop;
\connect shop
CREATE EXTENSION plpgsql_check;
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
CREATE FUNCTION order_total(n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t numeric; BEGIN SELECT total INTO t FROM orders WHERE id = n; RETURN t; END $$;
CREATE FUNCTION checkpoints_since(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c bigint; BEGIN SELECT checkpoints_timed - n INTO c FROM pg_stat_bgwriter; RETURN c; END $$;
CREATE FUNCTION unused_variable(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE spare int; BEGIN RETURN n; END $$;
