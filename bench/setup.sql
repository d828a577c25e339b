-- The benchmark's world: two tariffs, 100,000 accounts on each, a plain
-- table to measure the limit against, and the PL/pgSQL rating a user would
-- otherwise write, as the reference.
CREATE EXTENSION pg_rating CASCADE;
CREATE SCHEMA bench;

-- Tariff 1: one rate. Tariff 2: 10,000 destination prefixes, each with a
-- peak and an off-peak rate, in Berlin time.
BEGIN;
INSERT INTO rating.tariffs (tariff_id, code, name, currency, time_zone) VALUES
    (1, 'ONE-RATE', 'One rate', 'EUR', 'Europe/Berlin'),
    (2, 'TEN-THOUSAND', '10,000 prefixes in two bands', 'EUR', 'Europe/Berlin');
INSERT INTO rating.rates (tariff_id, service, price, per_quantity, first_increment, next_increment)
    VALUES (1, 'voice', 0.09, 60, 60, 1);
INSERT INTO rating.time_bands (tariff_id, band) VALUES (2, 'peak'), (2, 'offpeak');
INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
    (2, 'offpeak', '{1,2,3,4,5}', '00:00', '08:00'),
    (2, 'peak',    '{1,2,3,4,5}', '08:00', '20:00'),
    (2, 'offpeak', '{1,2,3,4,5}', '20:00', '24:00'),
    (2, 'offpeak', '{6,7}',       '00:00', '24:00');
INSERT INTO rating.rates (tariff_id, service, destination_prefix, time_band, price, per_quantity, first_increment, next_increment)
SELECT 2, 'voice', (1000 + p)::text, b.band, b.price + p % 50 / 1000.0, 60, 60, 1
  FROM generate_series(0, 9999) p,
       (VALUES ('peak', 0.10), ('offpeak', 0.04)) AS b(band, price);
COMMIT;

INSERT INTO rating.accounts (account_id, name, currency)
SELECT a, 'account ' || a, 'EUR' FROM generate_series(1, 200000) a;
INSERT INTO rating.subscriptions (account_id, tariff_id)
SELECT a, CASE WHEN a <= 100000 THEN 1 ELSE 2 END FROM generate_series(1, 200000) a;

-- The limit: the same columns, keys, indexes and defaults, no triggers (so
-- no foreign keys, which PostgreSQL checks with triggers). Its rows carry no
-- charge, which usage_row_well_formed would refuse, so it keeps the same
-- rules as a table of one's own would write them, in SQL: a known status
-- (as rating.usage did up to 0.2.0), the event id's length, attributes
-- that are an object. rating.usage asks its rules of one function because
-- that is cheaper to start per statement; a plain table could do the same.
CREATE TABLE bench.plain_usage (
    LIKE rating.usage INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES INCLUDING CONSTRAINTS);
ALTER TABLE bench.plain_usage ALTER COLUMN status SET DEFAULT 'rated',
    DROP CONSTRAINT usage_row_well_formed,
    ADD CONSTRAINT usage_status_known CHECK (status IN ('rated', 'held')),
    ADD CONSTRAINT usage_event_id_length CHECK (length(event_id) BETWEEN 1 AND 200),
    ADD CONSTRAINT usage_attributes_object CHECK (jsonb_typeof(attributes) = 'object');

-- The reference: what a team would write in PL/pgSQL for per-unit rating
-- with increments, longest-prefix rates and peak/off-peak bands, a ledger
-- and balances.
CREATE TABLE bench.ref_usage (
    LIKE rating.usage INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES INCLUDING CONSTRAINTS);
ALTER TABLE bench.ref_usage ALTER COLUMN status SET DEFAULT 'rated';
CREATE TABLE bench.ref_accounts (account_id bigint PRIMARY KEY, tariff_id bigint NOT NULL, balance numeric NOT NULL DEFAULT 0);
INSERT INTO bench.ref_accounts (account_id, tariff_id)
SELECT account_id, tariff_id FROM rating.subscriptions;
CREATE TABLE bench.ref_rates (
    tariff_id bigint, prefix text, band text, price numeric, per_quantity numeric,
    first_increment numeric, next_increment numeric,
    PRIMARY KEY (tariff_id, prefix, band));
INSERT INTO bench.ref_rates
SELECT tariff_id, destination_prefix, coalesce(time_band, ''), price, per_quantity, first_increment, next_increment
  FROM rating.rates;
CREATE TABLE bench.ref_ledger (
    account_id bigint NOT NULL, entry_id bigint GENERATED ALWAYS AS IDENTITY, usage_id bigint NOT NULL,
    amount numeric NOT NULL, posted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, entry_id));

CREATE FUNCTION bench.ref_rate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tariff bigint;
    wanted_band text := '';
    rate bench.ref_rates;
    billed numeric;
    local timestamp;
BEGIN
    SELECT a.tariff_id INTO tariff FROM bench.ref_accounts a WHERE a.account_id = NEW.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', NEW.account_id;
    END IF;
    IF tariff = 2 THEN
        local := NEW.occurred_at AT TIME ZONE 'Europe/Berlin';
        wanted_band := CASE WHEN extract(isodow FROM local) <= 5 AND local::time >= '08:00' AND local::time < '20:00'
                     THEN 'peak' ELSE 'offpeak' END;
    END IF;
    SELECT * INTO rate FROM bench.ref_rates r
     WHERE r.tariff_id = tariff AND r.band = wanted_band
       AND r.prefix IN (SELECT left(ltrim(coalesce(NEW.destination, ''), '+'), n)
                          FROM generate_series(0, length(ltrim(coalesce(NEW.destination, ''), '+'))) n)
     ORDER BY length(r.prefix) DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no rate for %', NEW.destination;
    END IF;
    billed := CASE WHEN NEW.quantity = 0 THEN 0
                   WHEN NEW.quantity <= rate.first_increment THEN rate.first_increment
                   ELSE rate.first_increment + ceil((NEW.quantity - rate.first_increment) / rate.next_increment) * rate.next_increment END;
    NEW.billed_quantity := billed;
    NEW.charge := round(billed * rate.price / rate.per_quantity, 2);
    NEW.currency := 'EUR';
    NEW.tariff_id := tariff;
    NEW.rated_at := now();
    RETURN NEW;
END $$;
CREATE FUNCTION bench.ref_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench.ref_ledger (account_id, usage_id, amount) VALUES (NEW.account_id, NEW.usage_id, -NEW.charge);
    UPDATE bench.ref_accounts SET balance = balance - NEW.charge WHERE account_id = NEW.account_id;
    RETURN NULL;
END $$;
CREATE TRIGGER ref_rate BEFORE INSERT ON bench.ref_usage FOR EACH ROW EXECUTE FUNCTION bench.ref_rate();
CREATE TRIGGER ref_post AFTER INSERT ON bench.ref_usage FOR EACH ROW EXECUTE FUNCTION bench.ref_post();

-- Between runs: empty every usage table and ledger, zero every balance.
CREATE PROCEDURE bench.reset() LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL pg_rating.maintenance = on;
    TRUNCATE rating.usage, rating.ledger, rating.usage_counters, rating.invoice_entries, rating.invoice_lines,
             rating.invoices, rating.alerts, bench.plain_usage, bench.ref_usage, bench.ref_ledger;
    UPDATE rating.balances SET balance = 0, last_entry_no = 0 WHERE last_entry_no > 0;
    UPDATE bench.ref_accounts SET balance = 0 WHERE balance <> 0;
END $$;

-- The usage rows every system gets: n calls spread over 100,000 accounts of
-- a tariff, or concentrated on 10 of them; to one of 10,000 prefixes.
CREATE FUNCTION bench.calls(n integer, first_account bigint, accounts integer)
RETURNS TABLE (account_id bigint, service text, quantity numeric, occurred_at timestamptz, destination text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT first_account + g % accounts, 'voice', 1 + (g * 37) % 900,
           '2026-11-02 00:00+01'::timestamptz + g * interval '3 seconds',
           '+' || (1000 + (g * 7919) % 10000) || lpad((g % 100000)::text, 5, '0')
      FROM generate_series(1::bigint, n) g
$$;
VACUUM ANALYZE;
