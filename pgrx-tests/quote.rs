// rating.quote prices like an insert and posts nothing.

#[pg_test]
fn quote_matches_the_insert_and_posts_nothing() {
    fixture();
    let quoted = text(
        "SELECT concat_ws('|', charge, currency, tariff_id, rate_id, billed_quantity)
           FROM rating.quote(3001, 'voice', 125, '2026-03-01 10:00+00', '+447700900123')",
    );
    // 125 s in 30/6 increments is 126 s: 126 * 0.06 / 60 = 0.126, + 0.02 = 0.146 -> 0.15.
    assert_eq!(quoted, "0.15|EUR|1001|2002|126");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 0);
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination)
         VALUES (3001, 'voice', 125, '2026-03-01 10:00+00', '+447700900123')");
    let inserted = text("SELECT concat_ws('|', charge, currency, tariff_id, rate_id, billed_quantity) FROM rating.usage");
    assert_eq!(inserted, quoted);
}

#[pg_test]
fn quote_defaults_to_now_and_no_destination() {
    fixture();
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'voice', 1)"), "0.12");
}

#[pg_test]
fn quote_works_above_a_parallel_scan() {
    fixture();
    // The leader of a parallel query may take no snapshot of its own for
    // the first time; an account met there for the first time still loads.
    run("CREATE TABLE quote_requests (account_id bigint, quantity numeric)");
    run("INSERT INTO quote_requests VALUES (3001, 1), (3002, 2)");
    run("UPDATE rating.accounts SET name = name WHERE false");
    run("SET LOCAL parallel_setup_cost = 0");
    run("SET LOCAL parallel_tuple_cost = 0");
    run("SET LOCAL min_parallel_table_scan_size = 0");
    run("SET LOCAL max_parallel_workers_per_gather = 2");
    run("CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE line text; plan text := '';
         BEGIN
             FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP plan := plan || line || E'\n'; END LOOP;
             RETURN plan;
         END $$");
    let quotes = "SELECT string_agg(q.charge::text, ',' ORDER BY r.account_id)
                    FROM quote_requests r, rating.quote(r.account_id, 'sms', r.quantity) q";
    let plan = text(&format!("SELECT pg_temp.plan_of({})", quote_literal(quotes)));
    assert!(plan.contains("Parallel Seq Scan"), "{plan}");
    assert_eq!(text(quotes), "0.05,0.10");
}

fn quote_literal(sql: &str) -> String {
    format!("'{}'", sql.replace('\'', "''"))
}
