// Held usage (pg_rating.unratable = hold), rating.rate_held() and
// rating.rerate(): nothing lost, nothing charged twice, no entry edited.

const HELD_FAX_AND_UNSUBSCRIBED: &str = "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at)
     VALUES (3001, 'v-1', 'voice', 61, '2026-03-01 10:00+00'),
            (3002, 'f-1', 'fax', 3, '2026-03-01 10:00+00'),
            (3003, 's-1', 'sms', 2, '2026-03-01 10:00+00')";

#[pg_test]
fn unratable_rows_are_rejected_by_default_with_their_sqlstate() {
    fixture();
    let outcome = error_of(HELD_FAX_AND_UNSUBSCRIBED);
    assert_eq!(
        outcome,
        "P0002: no rate for service \"fax\" in tariff 1001 (account 3002) at 2026-03-01 10:00:00+00"
    );
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.usage"), 0);
}

#[pg_test]
fn held_rows_are_stored_with_their_reason_and_posted_nowhere() {
    fixture();
    run("SET LOCAL pg_rating.unratable = hold");
    run(HELD_FAX_AND_UNSUBSCRIBED);
    assert_eq!(
        text("SELECT string_agg(event_id || ' ' || status || ' ' || coalesce(hold_reason, '-'), E'\\n' ORDER BY event_id) FROM rating.usage"),
        "f-1 held no rate for service \"fax\" in tariff 1001 (account 3002) at 2026-03-01 10:00:00+00\n\
         s-1 held account 3003 has no subscription in force at 2026-03-01 10:00:00+00\n\
         v-1 rated -"
    );
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 1);
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.held_usage"), 2);
    // Bad data is never held: only what a tariff fix would price.
    let negative = "INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3001, 'voice', -1, now())";
    assert!(error_of(negative).starts_with("22003"));
    // A retried held event is still a duplicate.
    let retry = "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at) VALUES (3002, 'f-1', 'fax', 3, now())";
    assert!(error_of(retry).starts_with("23505"));
    assert_books_balance();
}

#[pg_test]
fn rate_held_prices_rows_once_their_tariff_is_fixed_and_only_once() {
    fixture();
    run("SET LOCAL pg_rating.unratable = hold");
    run(HELD_FAX_AND_UNSUBSCRIBED);
    run("RESET pg_rating.unratable");
    assert_eq!(text("SELECT (rating.rate_held())::text"), "(0,2)");

    run("INSERT INTO rating.rates (tariff_id, service, price) VALUES (1001, 'fax', 0.25)");
    assert_eq!(text("SELECT (rating.rate_held(3002))::text"), "(1,0)");
    assert_eq!(text("SELECT (rating.rate_held())::text"), "(0,1)");
    run("INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3003, 1001)");
    assert_eq!(text("SELECT (rating.rate_held())::text"), "(1,0)");
    assert_eq!(text("SELECT (rating.rate_held())::text"), "(0,0)");

    // 3 faxes at 0.25 and 2 SMS at 0.05, under their original usage_ids and event_ids.
    assert_eq!(
        text("SELECT string_agg(event_id || '=' || charge, ' ' ORDER BY event_id) FROM rating.usage"),
        "f-1=0.75 s-1=0.10 v-1=0.24"
    );
    assert_eq!(
        text("SELECT string_agg(account_id || ':' || balance, ' ' ORDER BY account_id) FROM rating.balances WHERE balance <> 0"),
        "3001:-0.24 3002:-0.75 3003:-0.10"
    );
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.verify_usage(true)"), 0);
    assert_books_balance();
}

/// Usage of account 3001 in March, then a correction of the voice price.
fn march_usage_then_voice_price_doubled() {
    fixture();
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES
            (3001, 'voice', 61, '2026-03-01 10:00+00', '33123'),
            (3001, 'voice', 30, '2026-03-02 10:00+00', '4420'),
            (3001, 'sms', 1, '2026-03-03 10:00+00', NULL),
            (3001, 'voice', 120, '2026-04-01 10:00+00', '33123')");
    run("UPDATE rating.rates SET price = 0.24 WHERE rate_id = 2001");
}

#[pg_test]
fn rerate_posts_reversal_and_replacement_and_changes_nothing_the_second_time() {
    march_usage_then_voice_price_doubled();
    let before = one::<i64>("SELECT count(*) FROM rating.ledger");
    // Only the March call on the default voice rate changes: 0.24 -> 0.48.
    assert_eq!(
        text("SELECT (rating.rerate(3001, '2026-03-01', '2026-04-01'))::text"),
        "(1,-0.24)"
    );
    assert_eq!(
        text("SELECT string_agg(entry_no || ' ' || kind || ' ' || amount || ' ' || coalesce(corrects_entry_no::text, '-'), E'\\n' ORDER BY entry_no) FROM rating.ledger WHERE entry_no > 4"),
        "5 reversal 0.24 1\n6 charge -0.48 1"
    );
    assert_eq!(
        text("SELECT charge || ' ' || rate_id FROM rating.usage WHERE occurred_at = '2026-03-01 10:00+00'"),
        "0.48 2001"
    );
    // The original entry is untouched.
    assert_eq!(text("SELECT amount::text FROM rating.ledger WHERE account_id = 3001 AND entry_no = 1"), "-0.24");
    assert_eq!(text("SELECT (rating.rerate(3001, '2026-03-01', '2026-04-01'))::text"), "(0,0)");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), before + 2);

    // Rerating the whole year picks up April, and a second correction
    // reverses the replacement, not the original.
    assert_eq!(text("SELECT (rating.rerate(3001, '2026-01-01', '2027-01-01'))::text"), "(1,-0.24)");
    run("UPDATE rating.rates SET price = 0.12 WHERE rate_id = 2001");
    assert_eq!(text("SELECT (rating.rerate(3001, '2026-01-01', '2027-01-01'))::text"), "(2,0.48)");
    assert_eq!(
        text("SELECT string_agg(corrects_entry_no::text, ',' ORDER BY entry_no) FROM rating.ledger WHERE entry_no > 8"),
        "6,6,8,8"
    );
    assert_eq!(text("SELECT balance::text FROM rating.balances WHERE account_id = 3001"), "-0.58");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.verify_usage(true)"), 0);
    assert_books_balance();
}

#[pg_test]
fn rerate_refuses_what_the_corrected_tariff_cannot_price_and_posts_nothing() {
    march_usage_then_voice_price_doubled();
    run("DELETE FROM rating.rates WHERE rate_id = 2003");
    let outcome = error_of("SELECT rating.rerate(3001, '2026-03-01', '2026-04-01')");
    assert!(outcome.starts_with("P0002: no rate for service \"sms\""), "{outcome}");
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.ledger"), 4);
    for (call, code) in [
        ("SELECT rating.rerate(3001, NULL, now())", "23502"),
        ("SELECT rating.rerate(3001, '2026-04-01', '2026-03-01')", "22023"),
        ("SELECT rating.rerate(9999, '2026-03-01', '2026-04-01')", "23503"),
    ] {
        let outcome = error_of(call);
        assert!(outcome.starts_with(code), "{call}: {outcome}");
    }
    assert_books_balance();
}

#[pg_test]
fn rerated_entries_of_a_closed_period_go_on_the_next_invoice_as_late() {
    march_usage_then_voice_price_doubled();
    run("SELECT rating.close_period(3001, '2026-05-01')");
    run("SELECT rating.rerate(3001, '2026-03-01', '2026-04-01')");
    run("SELECT rating.close_period(3001, now() - interval '1 second')");
    assert_eq!(
        text("SELECT string_agg(description || ' ' || amount, E'\\n' ORDER BY line_no) FROM rating.invoice_lines WHERE invoice_no = 2"),
        "voice (rate 2001), late usage from an earlier period -0.48\n\
         voice charges reversed by rerating, late usage from an earlier period 0.24"
    );
    assert_books_balance();
}

#[pg_test]
fn verify_usage_finds_a_usage_row_whose_charge_left_the_ledger() {
    march_usage_then_voice_price_doubled();
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.verify_usage(true)"), 0);
    run("SET LOCAL pg_rating.maintenance = on");
    run("DELETE FROM rating.ledger WHERE account_id = 3001 AND entry_no = 4");
    assert_eq!(
        text("SELECT (u.usage_id = (SELECT max(usage_id) FROM rating.usage))::text || ' ' || ledger_total || ' ' || current_charges FROM rating.verify_usage(true) u"),
        "true 0 0"
    );
}
