// Time bands through SQL: a tariff's time zone, its weekly schedule and
// holidays choose the rate; a per-second call that crosses a band change is
// split; schedules with gaps, unknown zones and undefined bands are refused.

/// A time-of-use electricity tariff in New York: on-peak 14:00-19:00 on
/// weekdays at 0.2835 a kWh, off-peak otherwise at 0.1158, holidays off-peak;
/// metered to the watt-hour.
const TIME_OF_USE: &str = "
    INSERT INTO rating.tariffs (tariff_id, code, name, currency, time_zone)
        VALUES (1101, 'TOU-NY', 'Time of use', 'USD', 'America/New_York');
    INSERT INTO rating.time_bands (tariff_id, band) VALUES (1101, 'on_peak'), (1101, 'off_peak');
    INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
        (1101, 'off_peak', '{1,2,3,4,5}', '00:00', '14:00'),
        (1101, 'on_peak',  '{1,2,3,4,5}', '14:00', '19:00'),
        (1101, 'off_peak', '{1,2,3,4,5}', '19:00', '24:00'),
        (1101, 'off_peak', '{6,7}',       '00:00', '24:00');
    INSERT INTO rating.holidays (tariff_id, holiday, band, name) VALUES (1101, '2026-07-03', 'off_peak', 'Independence Day (observed)');
    INSERT INTO rating.rates (rate_id, tariff_id, service, time_band, price, first_increment, next_increment) VALUES
        (2201, 1101, 'kwh', 'on_peak', 0.2835, 0.001, 0.001),
        (2202, 1101, 'kwh', 'off_peak', 0.1158, 0.001, 0.001);
    INSERT INTO rating.accounts (account_id, name, currency) VALUES (3101, 'Meter 7', 'USD');
    INSERT INTO rating.subscriptions (account_id, tariff_id) VALUES (3101, 1101);
    SET CONSTRAINTS ALL IMMEDIATE;";

#[pg_test]
fn meter_reads_are_priced_by_the_band_of_their_local_time() {
    fixture();
    run(TIME_OF_USE);
    // Interval starts in UTC; New York is UTC-4 in summer, UTC-5 in winter.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES
         (3101, 'kwh', 1.5,  '2026-07-01 18:30+00'),  -- Wednesday 14:30 EDT: on-peak
         (3101, 'kwh', 2.0,  '2026-07-01 23:30+00'),  -- 19:30 EDT: off-peak
         (3101, 'kwh', 1.25, '2026-07-03 18:30+00'),  -- Friday 14:30 EDT, a holiday: off-peak
         (3101, 'kwh', 3.0,  '2026-07-04 18:30+00'),  -- Saturday: off-peak
         (3101, 'kwh', 0.8,  '2026-01-14 19:30+00'),  -- Wednesday 14:30 EST: on-peak
         (3101, 'kwh', 0.8,  '2026-07-01 19:30-04')   -- 19:30 EDT written with its offset: off-peak");
    // By hand: 1.5 x 0.2835 = 0.42525 -> 0.43; 2 x 0.1158 = 0.2316 -> 0.23;
    // 1.25 x 0.1158 = 0.14475 -> 0.14; 3 x 0.1158 = 0.3474 -> 0.35;
    // 0.8 x 0.2835 = 0.2268 -> 0.23; 0.8 x 0.1158 = 0.09264 -> 0.09.
    assert_eq!(
        text("SELECT string_agg(rate_id || ':' || charge, ' ' ORDER BY usage_id) FROM rating.usage"),
        "2201:0.43 2202:0.23 2202:0.14 2202:0.35 2201:0.23 2202:0.09"
    );
    assert_eq!(
        text("SELECT breakdown FROM rating.usage WHERE account_id = 3101 ORDER BY usage_id LIMIT 1"),
        "rate 2201 (on_peak): quantity 1.5 billed as 1.5 (0.001/0.001 increments) at 0.2835 per 1 = 0.42525; charge 0.43 USD (half_up to 2 decimals)"
    );
    assert_books_balance();
}

#[pg_test]
fn a_call_across_the_evening_change_is_split_and_priced_part_by_part() {
    fixture();
    run("UPDATE rating.tariffs SET time_zone = 'Europe/Berlin' WHERE tariff_id = 1001;
         INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'peak'), (1001, 'offpeak');
         INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
             (1001, 'offpeak', '{1,2,3,4,5}', '00:00', '08:00'),
             (1001, 'peak',    '{1,2,3,4,5}', '08:00', '20:00'),
             (1001, 'offpeak', '{1,2,3,4,5}', '20:00', '24:00'),
             (1001, 'offpeak', '{6,7}',       '00:00', '24:00');
         INSERT INTO rating.rates (rate_id, tariff_id, service, destination_prefix, time_band, quantity_unit,
                                   price, per_quantity, first_increment, next_increment, connect_fee) VALUES
             (2301, 1001, 'call', '49', 'peak',    'second', 0.20, 60, 60, 1, 0.05),
             (2302, 1001, 'call', '49', 'offpeak', 'second', 0.05, 60, 60, 1, 0.05);
         SET CONSTRAINTS ALL IMMEDIATE;");
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at, destination) VALUES
         (3002, 'call', 610, '2026-03-02 19:55+01', '+4930123456'),
         (3002, 'call', 120, '2026-03-02 10:00+01', '+4930123456'),
         (3002, 'call', 30,  '2026-03-07 10:00+01', '+4930123456')");
    // 300 s peak = 1.00, 310 s off-peak = 0.258333.., + 0.05 = 1.308333.. -> 1.31;
    // 120 s peak = 0.40 + 0.05 = 0.45; 30 s off-peak billed as 60 = 0.05 + 0.05 = 0.10.
    assert_eq!(
        text("SELECT string_agg(rate_id || ':' || charge || '/' || billed_quantity, ' ' ORDER BY usage_id) FROM rating.usage"),
        "2301:1.31/610 2301:0.45/120 2302:0.10/60"
    );
    assert_eq!(
        text("SELECT breakdown FROM rating.usage ORDER BY usage_id LIMIT 1"),
        "rate 2301: quantity 610 billed as 610 (60/1 increments), split at time-band changes: 300 s peak at 0.2 per 60 (rate 2301) = 1 + 310 s offpeak at 0.05 per 60 (rate 2302) = 0.2583333333333333333333333333; connect fee 0.05; charge 1.31 EUR (half_up to 2 decimals)"
    );
    // quote prices it the same way.
    assert_eq!(text("SELECT charge::text FROM rating.quote(3002, 'call', 610, '2026-03-02 19:55+01', '4930')"), "1.31");
    // The sms rate names no band: it prices at any time, as before.
    run("INSERT INTO rating.usage (account_id, service, quantity, occurred_at) VALUES (3002, 'sms', 1, '2026-03-07 10:00+01')");
    assert_eq!(text("SELECT charge::text FROM rating.usage WHERE service = 'sms'"), "0.05");
    assert_books_balance();
}

#[pg_test]
fn schedules_zones_and_bands_that_cannot_price_are_refused() {
    fixture();
    let cases: &[(&str, &str)] = &[
        ("UPDATE rating.tariffs SET time_zone = 'Mars/Olympus_Mons' WHERE tariff_id = 1001",
         "22023: invalid time zone for tariff 1001: unknown time zone \"Mars/Olympus_Mons\""),
        ("INSERT INTO rating.tariffs (code, name, currency, time_zone) VALUES ('Z', 'Z', 'EUR', '')",
         "22023: invalid time zone for tariff "),
        ("INSERT INTO rating.rates (tariff_id, service, time_band, price) VALUES (1001, 'mms', 'night', 0.1)",
         "23503: insert or update on table \"rates\" violates foreign key constraint \"rates_time_band_fkey\""),
        ("INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day');
          INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES (1001, 'day', '{1,2,3,4,5,6,7}', '00:00', '23:00');
          SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid time bands for tariff 1001: no time band covers Monday 23:00 to 24:00"),
        ("INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day'), (1001, 'night');
          INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES
              (1001, 'day', '{1,2,3,4,5,6,7}', '00:00', '20:00'), (1001, 'night', '{1,2,3,4,5,6,7}', '19:00', '24:00');
          SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid time bands for tariff 1001: time bands \"day\" and \"night\" both cover Monday at 19:00"),
        ("INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day'); SET CONSTRAINTS ALL IMMEDIATE",
         "23514: invalid time bands for tariff 1001: no time band covers Monday 00:00 to 24:00"),
        ("INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day');
          INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES (1001, 'day', '{0,1}', '00:00', '24:00')",
         "23514: new row for relation \"time_band_hours\" violates check constraint \"time_band_hours_days_are_weekdays\""),
        ("INSERT INTO rating.time_bands (tariff_id, band) VALUES (1001, 'day');
          INSERT INTO rating.time_band_hours (tariff_id, band, days, starts, ends) VALUES (1001, 'day', '{1}', '20:00', '08:00')",
         "23514: new row for relation \"time_band_hours\" violates check constraint \"time_band_hours_span_forward\""),
        ("INSERT INTO rating.holidays (tariff_id, holiday, band, name) VALUES (1001, '2026-12-25', 'xmas', 'Christmas')",
         "23503: insert or update on table \"holidays\" violates foreign key constraint \"holidays_band_fkey\""),
        ("INSERT INTO rating.rates (tariff_id, service, pricing_model, quantity_unit, price, per_quantity) VALUES (1001, 'mms', 'package', 'second', 1, 60)",
         "23514: invalid rate for tariff 1001, service \"mms\", prefix \"\": quantity_unit second (a duration split at time-band changes) needs per_unit pricing, not package"),
        ("INSERT INTO rating.rates (tariff_id, service, quantity_unit, price) VALUES (1001, 'mms', 'minute', 1)",
         "23514: new row for relation \"rates\" violates check constraint \"rates_quantity_unit_known\""),
    ];
    for (statement, expected) in cases {
        let error = error_of(statement);
        assert!(error.starts_with(expected), "{statement}\n  expected: {expected}\n  got:      {error}");
    }
    assert_eq!(one::<i64>("SELECT count(*) FROM rating.time_bands"), 0);
    assert_eq!(text("SELECT time_zone FROM rating.tariffs WHERE tariff_id = 1001"), "UTC");
}
