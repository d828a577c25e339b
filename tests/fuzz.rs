//! Random tariffs and random usage through the SQL interface, checked against
//! a model of what each statement must do: which SQLSTATE refuses it, or which
//! rate prices it and whether it is rated or held. Every charge is recomputed
//! by an independent formula in PostgreSQL's own numeric arithmetic, and the
//! books must balance after every tariff. The generator is seeded: a failure
//! prints the seed, and `PG_RATING_FUZZ_SEED=<n>` replays it.

mod common;

use common::{assert_books_balance, count, TestDatabase};
use postgres::Client;

/// splitmix64: small, seedable, and the same on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A decimal in [0, max) with `scale` decimals, as text.
    fn decimal(&mut self, max: u64, scale: u32) -> String {
        let units = self.below(max * 10u64.pow(scale));
        let whole = units / 10u64.pow(scale);
        let fraction = units % 10u64.pow(scale);
        if scale == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{fraction:0width$}", width = scale as usize)
        }
    }
}

const SERVICES: [&str; 4] = ["voice", "sms", "data", "ü-dienst"];
const PREFIXES: [&str; 7] = ["", "4", "44", "447", "+44", "1", "📞"];
const DESTINATIONS: [&str; 9] = [
    "+447700900123",
    "4420",
    "12125550100",
    "+1",
    "4",
    "33123",
    "📞+44",
    "",
    "🙂",
];
/// (code, the other currency a sender may wrongly claim)
const CURRENCIES: [(&str, &str); 3] = [("EUR", "USD"), ("JPY", "EUR"), ("KWD", "JPY")];
const ROUNDING_MODES: [&str; 3] = ["half_up", "half_even", "up"];
const DAY: i64 = 86_400;

/// An accepted rate, as the model needs it to predict rate selection.
struct ModelRate {
    rate_id: i64,
    service: &'static str,
    prefix: String,
    from: Option<i64>,
    to: Option<i64>,
}

impl ModelRate {
    fn in_force(&self, at: i64) -> bool {
        self.from.is_none_or(|from| from <= at) && self.to.is_none_or(|to| at < to)
    }

    fn overlaps(&self, from: Option<i64>, to: Option<i64>) -> bool {
        let starts_before_other_ends = to.is_none_or(|to| self.from.is_none_or(|f| f < to));
        let other_starts_before_self_ends = self.to.is_none_or(|t| from.is_none_or(|f| f < t));
        starts_before_other_ends && other_starts_before_self_ends
    }
}

/// Seconds after 2026-01-01 00:00 UTC, or NULL, as a timestamptz expression.
fn instant(seconds: Option<i64>, null_as: &str) -> String {
    match seconds {
        None => null_as.to_string(),
        Some(s) => format!("timestamptz '2026-01-01 00:00+00' + make_interval(secs => {s})"),
    }
}

/// Runs one statement: its rows, or the SQLSTATE that refused it. Losing the
/// server, or an internal error, fails the test on the spot.
fn attempt(client: &mut Client, statement: &str) -> Result<Vec<postgres::Row>, String> {
    client
        .query(statement, &[])
        .map_err(|e| match e.as_db_error() {
            Some(db) => {
                assert_ne!(
                    db.code().code(),
                    "XX000",
                    "internal error: {}",
                    db.message()
                );
                db.code().code().to_string()
            }
            None => panic!("the server went away: {e}"),
        })
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Inserts random rates, one statement each; returns those accepted.
fn random_rates(
    client: &mut Client,
    random: &mut Random,
    tariff_id: i64,
    currency: &str,
) -> Vec<ModelRate> {
    let mut accepted: Vec<ModelRate> = Vec::new();
    for _ in 0..1 + random.below(7) {
        let service = random.pick(&SERVICES);
        let prefix = random.pick(&PREFIXES).to_string();
        let from = random
            .chance(40)
            .then(|| (random.below(300) as i64 - 150) * DAY);
        let to = random
            .chance(40)
            .then(|| (random.below(300) as i64 - 100) * DAY);
        let scale = if currency == "JPY" { 0 } else { 4 };
        let model = if random.chance(50) {
            "per_unit"
        } else {
            random.pick(&["package", "flat", "percentage"])
        };
        let mut terms = [
            random.decimal(5, scale),             // price
            (1 + random.below(3600)).to_string(), // per_quantity
            format!("{}.5", random.below(120)),   // first_increment
            (1 + random.below(120)).to_string(),  // next_increment
            random.decimal(1, 2),                 // connect_fee
            random.decimal(1, 2),                 // minimum_charge
        ];
        // Terms a model does not use are left at 1 ...
        if model != "per_unit" {
            terms[2] = "1".into();
            terms[3] = "1".into();
        }
        if matches!(model, "flat" | "percentage") {
            terms[1] = "1".into();
        }
        let mut maximum = random.chance(30).then(|| {
            let minimum = &terms[5];
            format!("{minimum} + {}", random.decimal(3, 2))
        });
        let mut expected: Option<&str> = None;
        // ... except in one rate in ten, which the engine must refuse, as it
        // must a cap below the minimum.
        if model != "per_unit" && random.chance(10) {
            terms[2] = "60".into();
            expected = Some("23514");
        } else if random.chance(5) {
            maximum = Some(format!("{} - 0.01", terms[5]));
            expected = Some("23514");
        }
        // One rate in four carries a term the engine must refuse.
        if expected.is_none() && random.chance(25) {
            let field = random.below(6) as usize;
            let (bad, code) = match random.below(3) {
                0 => ("NaN", "22003"),
                1 if field == 0 || field >= 4 => ("-0.01", "23514"),
                _ if (1..=3).contains(&field) => ("0", "23514"),
                _ => ("-1", "23514"),
            };
            terms[field] = bad.to_string();
            expected = Some(code);
        }
        let period_empty = matches!((from, to), (Some(f), Some(t)) if t <= f);
        let normalised = prefix.trim_start_matches('+').to_string();
        if expected.is_none() {
            if period_empty {
                expected = Some("23514");
            } else if accepted
                .iter()
                .any(|r| r.service == service && r.prefix == normalised && r.overlaps(from, to))
            {
                expected = Some("23P01");
            }
        }
        let statement = format!(
            "INSERT INTO rating.rates (tariff_id, service, destination_prefix, valid_from, valid_to, price,
                                       per_quantity, first_increment, next_increment, connect_fee, minimum_charge,
                                       pricing_model, maximum_charge)
             VALUES ({tariff_id}, {}, {}, {}, {}, '{}', '{}', '{}', '{}', '{}', '{}', '{model}', {}) RETURNING rate_id",
            quoted(service),
            quoted(&prefix),
            instant(from, "'-infinity'"),
            instant(to, "NULL"),
            terms[0], terms[1], terms[2], terms[3], terms[4], terms[5],
            maximum.as_deref().unwrap_or("NULL"),
        );
        let outcome = attempt(client, &statement);
        assert_eq!(
            outcome.as_ref().err().map(String::as_str),
            expected,
            "{statement}"
        );
        if let Ok(rows) = outcome {
            accepted.push(ModelRate {
                rate_id: rows[0].get(0),
                service,
                prefix: normalised,
                from,
                to,
            });
        }
    }
    accepted
}

/// What the model expects of one usage row.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refused(String),
    Held,
    Rated(i64),
}

#[derive(Clone, Copy, PartialEq)]
enum QuantityClass {
    /// Zero or positive, up to 4,000 with up to 3 decimals.
    Fine,
    Negative,
    /// NaN.
    NotFinite,
    /// Beyond the 10^15 an event may carry.
    TooLarge,
    /// More significant digits than rust_decimal holds.
    TooPrecise,
}

struct Usage {
    service: &'static str,
    destination: Option<String>,
    quantity: String,
    quantity_class: QuantityClass,
    /// Seconds after 2026-01-01; None: infinity.
    occurred_at: Option<i64>,
    claimed_currency: Option<&'static str>,
    claims_wrong_currency: bool,
}

/// A usage row; two in three aim at an accepted rate (its service, a
/// destination under its prefix, a time in its period) so that most reach
/// the pricing, the rest are anything at all.
fn random_usage(
    random: &mut Random,
    rates: &[ModelRate],
    currency: &'static str,
    other: &'static str,
) -> Usage {
    let (quantity, quantity_class) = match random.below(12) {
        0 => ("NaN".to_string(), QuantityClass::NotFinite),
        1 => (
            format!("-{}.{:02}", 1 + random.below(100), random.below(100)),
            QuantityClass::Negative,
        ),
        2 => ("1e16".to_string(), QuantityClass::TooLarge),
        3 => (
            "1.00000000000000000000000000001".to_string(),
            QuantityClass::TooPrecise,
        ),
        4 => ("0".to_string(), QuantityClass::Fine),
        _ => {
            let scale = random.below(4) as u32;
            (random.decimal(4000, scale), QuantityClass::Fine)
        }
    };
    let target = (!rates.is_empty() && random.chance(67))
        .then(|| &rates[random.below(rates.len() as u64) as usize]);
    let mut service = random.pick(&SERVICES);
    let mut destination = match random.below(10) {
        0 => None,
        1 => Some("4".repeat(5000)),
        _ => Some(random.pick(&DESTINATIONS).to_string()),
    };
    let mut occurred_at = (!random.chance(3))
        .then(|| (random.below(400) as i64 - 200) * DAY + random.below(DAY as u64) as i64);
    if let Some(rate) = target {
        service = rate.service;
        let plus = if random.chance(50) { "+" } else { "" };
        destination = Some(format!("{plus}{}{}", rate.prefix, random.below(1_000_000)));
        if let Some(at) = occurred_at.as_mut() {
            let from = rate.from.unwrap_or(-200 * DAY);
            let to = rate.to.unwrap_or(200 * DAY).max(from + 1);
            *at = from + (random.below((to - from) as u64) as i64);
        }
    }
    let (claimed_currency, claims_wrong_currency) = match random.below(10) {
        0 => (Some(other), true),
        1 | 2 => (Some(currency), false),
        _ => (None, false),
    };
    Usage {
        service,
        destination,
        quantity,
        quantity_class,
        occurred_at,
        claimed_currency,
        claims_wrong_currency,
    }
}

/// The model: the checks pg_rating makes, in the order it makes them.
fn expected_outcome(
    usage: &Usage,
    subscribed_from: i64,
    rates: &[ModelRate],
    hold: bool,
) -> Outcome {
    use QuantityClass::*;
    if matches!(usage.quantity_class, NotFinite | TooPrecise) {
        return Outcome::Refused("22003".into());
    }
    let Some(at) = usage.occurred_at else {
        return Outcome::Refused("22008".into());
    };
    if usage.claims_wrong_currency {
        return Outcome::Refused("22023".into());
    }
    let unratable = if hold {
        Outcome::Held
    } else {
        Outcome::Refused("P0002".into())
    };
    if at < subscribed_from {
        return unratable;
    }
    if matches!(usage.quantity_class, Negative | TooLarge) {
        return Outcome::Refused("22003".into());
    }
    let destination = usage.destination.as_deref().unwrap_or("");
    let destination = destination.strip_prefix('+').unwrap_or(destination);
    rates
        .iter()
        .filter(|r| {
            r.service == usage.service && destination.starts_with(&r.prefix) && r.in_force(at)
        })
        .max_by_key(|r| r.prefix.len())
        .map_or(unratable, |r| Outcome::Rated(r.rate_id))
}

/// Rated rows of the account whose charge differs from the formula computed
/// in PostgreSQL's numeric arithmetic from the row's rate and quantity.
const MISPRICED: &str = "
    SELECT count(*)
      FROM rating.usage u
      JOIN rating.rates r ON r.rate_id = u.rate_id
      JOIN rating.tariffs t ON t.tariff_id = u.tariff_id
      JOIN rating.currencies c ON c.code = t.currency
     CROSS JOIN LATERAL (SELECT CASE WHEN u.quantity = 0 OR r.pricing_model IN ('flat', 'percentage') THEN u.quantity
                                     WHEN r.pricing_model = 'package' THEN ceil(u.quantity / r.per_quantity) * r.per_quantity
                                     WHEN u.quantity <= r.first_increment THEN r.first_increment
                                     ELSE r.first_increment
                                          + ceil((u.quantity - r.first_increment) / r.next_increment) * r.next_increment
                                END AS billed) b
     CROSS JOIN LATERAL (SELECT r.connect_fee + CASE r.pricing_model
                                                    WHEN 'flat' THEN r.price
                                                    WHEN 'percentage' THEN b.billed * r.price / 100
                                                    ELSE b.billed * r.price / r.per_quantity END AS amount) a
     CROSS JOIN LATERAL (SELECT CASE WHEN b.billed = 0 THEN 0
                                     ELSE least(greatest(a.amount, r.minimum_charge), coalesce(r.maximum_charge, 'Infinity'))
                                          * power(10::numeric, c.minor_units)
                                END AS cents) x
     CROSS JOIN LATERAL (SELECT CASE t.rounding_mode
                                     WHEN 'half_up' THEN round(x.cents)
                                     WHEN 'up' THEN ceil(x.cents)
                                     WHEN 'half_even' THEN CASE WHEN x.cents - floor(x.cents) = 0.5
                                                                THEN floor(x.cents) + mod(floor(x.cents), 2)
                                                                ELSE round(x.cents) END
                                END / power(10::numeric, c.minor_units) AS charge) expected
     WHERE u.account_id = $1 AND u.status = 'rated'
       AND (u.charge <> expected.charge OR u.billed_quantity <> b.billed OR u.charge::text !~ ('^[0-9]+' || CASE WHEN c.minor_units > 0 THEN '\\.[0-9]{' || c.minor_units || '}' ELSE '' END || '$'))";

/// Rated rows whose quote, asked now, differs from what the insert charged.
const QUOTE_DIFFERS: &str = "
    SELECT count(*)
      FROM rating.usage u
     CROSS JOIN LATERAL rating.quote(u.account_id, u.service, u.quantity, u.occurred_at, u.destination) q
     WHERE u.account_id = $1 AND u.status = 'rated'
       AND (q.charge, q.rate_id, q.billed_quantity, q.breakdown) IS DISTINCT FROM (u.charge, u.rate_id, u.billed_quantity, u.breakdown)";

const TARIFFS: i64 = 100;
const ROWS_PER_TARIFF: usize = 50;

#[test]
#[ignore = "needs a server: run scripts/test.sh"]
fn random_tariffs_and_usage_behave_as_the_model_says() {
    let seed = std::env::var("PG_RATING_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7A21_FF5E_u64);
    println!("fuzz seed {seed} (replay with PG_RATING_FUZZ_SEED={seed})");
    let mut random = Random(seed);
    let database = TestDatabase::create("pg_rating_fuzz");
    let mut client = database.connect();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();

    for case in 0..TARIFFS {
        let (currency, other) = CURRENCIES[random.below(3) as usize];
        let tariff_id = 50_000 + case;
        let account_id = 60_000 + case;
        client
            .batch_execute(&format!(
                "INSERT INTO rating.tariffs (tariff_id, code, name, currency, rounding_mode)
                 VALUES ({tariff_id}, 'FUZZ-{case}', 'fuzz', '{currency}', '{}');
                 INSERT INTO rating.accounts (account_id, name, currency) VALUES ({account_id}, 'fuzz', '{currency}');",
                random.pick(&ROUNDING_MODES)
            ))
            .unwrap();
        let rates = random_rates(&mut client, &mut random, tariff_id, currency);
        let subscribed_from = (random.below(100) as i64 - 150) * DAY;
        client
            .batch_execute(&format!(
                "INSERT INTO rating.subscriptions (account_id, tariff_id, valid_from) VALUES ({account_id}, {tariff_id}, {});",
                instant(Some(subscribed_from), "")
            ))
            .unwrap();
        let hold = random.chance(50);
        client
            .batch_execute(if hold {
                "SET pg_rating.unratable = hold"
            } else {
                "SET pg_rating.unratable = reject"
            })
            .unwrap();

        let mut last_event: Option<String> = None;
        for row in 0..ROWS_PER_TARIFF {
            let usage = random_usage(&mut random, &rates, currency, other);
            let mut expected = expected_outcome(&usage, subscribed_from, &rates, hold);
            // Now and then a retry of the last event that was stored.
            let retry = random.chance(8) && last_event.is_some();
            let event_id = match (&last_event, retry) {
                (Some(previous), true) => {
                    if !matches!(expected, Outcome::Refused(_)) {
                        expected = Outcome::Refused("23505".into());
                    }
                    previous.clone()
                }
                _ => format!("ev-{case}-{row}"),
            };
            let statement = format!(
                "INSERT INTO rating.usage (account_id, event_id, service, quantity, occurred_at, destination, currency)
                 VALUES ({account_id}, {}, {}, '{}', {}, {}, {}) RETURNING status, rate_id",
                quoted(&event_id),
                quoted(usage.service),
                usage.quantity,
                instant(usage.occurred_at, "'infinity'"),
                usage.destination.as_deref().map_or("NULL".into(), quoted),
                usage.claimed_currency.map_or("NULL".into(), quoted),
            );
            let actual = match attempt(&mut client, &statement) {
                Ok(stored) if stored[0].get::<_, String>(0) == "held" => Outcome::Held,
                Ok(stored) => Outcome::Rated(stored[0].get(1)),
                Err(code) => Outcome::Refused(code),
            };
            assert_eq!(
                actual,
                expected,
                "seed {seed}, tariff {tariff_id}, row {row}: {}",
                &statement[..statement.len().min(600)]
            );
            if !matches!(actual, Outcome::Refused(_)) {
                last_event = Some(event_id);
            }
            let key = match &actual {
                Outcome::Refused(code) => format!("refused {code}"),
                Outcome::Held => "held".into(),
                Outcome::Rated(_) => "rated".into(),
            };
            *tally.entry(key).or_default() += 1;
        }
        for (check, sql) in [("mispriced", MISPRICED), ("quote differs", QUOTE_DIFFERS)] {
            let wrong: i64 = client.query_one(sql, &[&account_id]).unwrap().get(0);
            assert_eq!(wrong, 0, "seed {seed}, tariff {tariff_id}: {check}");
        }
        *tally.entry("rates accepted".into()).or_default() += rates.len();
    }
    assert_books_balance(&mut client);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.verify_balances(true)"
        ),
        0
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM rating.verify_usage(true)"
        ),
        0
    );
    // The generator must reach every branch, or the test proves less than it says.
    for outcome in [
        "rated",
        "held",
        "refused 22003",
        "refused 22008",
        "refused 22023",
        "refused P0002",
        "refused 23505",
    ] {
        assert!(
            tally.get(outcome).copied().unwrap_or(0) > 0,
            "no row was {outcome}: {tally:?}"
        );
    }
    let models_rated = count(
        &mut client,
        "SELECT count(DISTINCT r.pricing_model) FROM rating.usage u JOIN rating.rates r ON r.rate_id = u.rate_id WHERE u.status = 'rated'",
    );
    assert_eq!(models_rated, 4, "every pricing model priced some rows");
    let capped = count(
        &mut client,
        "SELECT count(*) FROM rating.usage WHERE breakdown LIKE '%maximum charge%'",
    );
    assert!(capped > 0, "some charges were capped");
    println!(
        "fuzz: {TARIFFS} random tariffs, {} usage rows: {tally:?}",
        TARIFFS as usize * ROWS_PER_TARIFF
    );
}
