\connect invoices
CREATE VIEW open_invoices AS SELECT id, amount FROM invoices WHERE NOT paid;
CREATE MATERIALIZED VIEW city_totals AS SELECT c.city, sum(i.amount) AS total FROM invoices i JOIN customers c ON c.id = i.customer_id GROUP BY c.city;
CREATE FUNCTION checkpoint_counts() RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE n bigint; BEGIN SELECT checkpoints_timed INTO n FROM pg_stat_bgwriter; RETURN n; END $$;
CREATE FUNCTION open_total() RETURNS numeric LANGUAGE sql AS $$ SELECT sum(amount) FROM invoices WHERE NOT paid $$;
CREATE FUNCTION invoice_total(customer integer) RETURNS numeric LANGUAGE sql AS $$ SELECT sum(amount) FROM invoices WHERE customer_id = customer $$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER invoices_touch BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION touch();
CREATE PROCEDURE mark_all_paid() LANGUAGE sql AS $$ UPDATE invoices SET paid = true $$;
CREATE FUNCTION slow() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(20); RETURN 1; END $$;
CREATE FUNCTION multi() RETURNS text LANGUAGE sql AS $$ SELECT E'line1\nline2, "quoted"' $$;
