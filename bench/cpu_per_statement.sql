-- Backend CPU per single-row autocommit INSERT, measured inside one
-- session so that neither the client nor the machine's other load counts:
-- a procedure runs :statements INSERTs, each parsed and planned (EXECUTE,
-- as a client's statement would be) and each committed. psql fills in
-- :table, :statements, :accounts and :ticks (the kernel's clock ticks per
-- second, the unit of /proc/self/stat). Prints statements per CPU-second.
CREATE PROCEDURE pg_temp.single_rows(target text, statements integer, accounts integer)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..statements LOOP
        EXECUTE format('INSERT INTO %s (account_id, service, quantity, occurred_at, destination)
                        VALUES ($1, ''voice'', 61, now(), ''+4930'' || $1)', target)
          USING 1 + i % accounts;
        COMMIT;
    END LOOP;
END
$$;
\ir cpu_ticks.sql
-- Warm the session (tariffs, plans) first, as a pooled connection is.
CALL pg_temp.single_rows(:'table', 200, :accounts);
SELECT pg_temp.cpu_ticks() AS ticks_before \gset
CALL pg_temp.single_rows(:'table', :statements, :accounts);
SELECT round(:statements * :ticks / greatest(pg_temp.cpu_ticks() - :ticks_before, 1)::numeric);
