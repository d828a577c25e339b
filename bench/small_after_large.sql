-- Backend CPU per 3-row INSERT statement over 3 accounts, after the
-- session has first run one statement of :large rows (0: none) over
-- 100,000 accounts. The set-based posting's plans are kept for the
-- session from the first statement that runs them: this shows whether a
-- plan made for a large statement still suits small ones. psql fills in
-- :large, :statements and :ticks (clock ticks per second). Prints
-- microseconds of CPU per statement.
CREATE PROCEDURE pg_temp.three_row_statements(statements integer)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..statements LOOP
        INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
        SELECT * FROM bench.calls(3, 1 + (i * 3) % 99990, 3);
        COMMIT;
    END LOOP;
END
$$;
\ir cpu_ticks.sql
INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
SELECT * FROM bench.calls(:large, 1, 100000);
CALL pg_temp.three_row_statements(20);
SELECT pg_temp.cpu_ticks() AS ticks_before \gset
CALL pg_temp.three_row_statements(:statements);
SELECT round((pg_temp.cpu_ticks() - :ticks_before) * 1e6 / :ticks / :statements);
