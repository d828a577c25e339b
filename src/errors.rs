//! Every error pg_rating raises, mapped to an SQLSTATE with a message that
//! names the offending value and, where it helps, a hint.

use crate::catalog::CatalogError;
use crate::engine::ledger::MalformedEntry;
use crate::engine::usage_row::MalformedUsage;
use crate::engine::{shown, RatingError, TariffError};
use crate::numeric::NumericError;
use crate::usage::UsageError;
use pgrx::pg_sys::errcodes::PgSqlErrorCode::{self, *};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;

const FUNCTION: &str = "pg_rating";

fn report(code: PgSqlErrorCode, message: String) -> ErrorReport {
    ErrorReport::new(code, message, FUNCTION)
}

/// Raises `error` as a PostgreSQL ERROR; the transaction (or subtransaction)
/// is aborted, so nothing of the failed statement is left behind.
pub fn raise(error: impl Into<ErrorReport>) -> ! {
    error.into().report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn numeric(column: &str, error: &NumericError) -> ErrorReport {
    match error {
        NumericError::NotFinite(text) => report(
            ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{column} {text} is not a finite number"),
        ),
        NumericError::OutOfRange(text) => report(
            ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{column} {text} is outside the range pg_rating can price exactly"),
        )
        .set_hint("Values are limited to 28 significant digits."),
    }
}

/// A ledger entry that breaks the ledger's rules; `entry` names it.
pub fn malformed_ledger_entry(entry: &str, broken: &MalformedEntry) -> ErrorReport {
    report(
        ERRCODE_CHECK_VIOLATION,
        format!("ledger {entry} is malformed: {broken}"),
    )
}

/// A value for an error's detail, or NULL.
pub fn or_null(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

/// A usage row that breaks usage's rules. Worded as PostgreSQL words a
/// CHECK violation, with the rule after it.
pub fn malformed_usage_row(broken: &MalformedUsage) -> ErrorReport {
    report(
        ERRCODE_CHECK_VIOLATION,
        format!("new row for relation \"usage\" violates check constraint \"usage_row_well_formed\": {broken}"),
    )
}

/// Rated usage rows left without their ledger entries: an account lost its
/// balance row. Refused rather than accepting usage that is not on the
/// ledger (as rating.post_usage_charges() refuses it).
pub fn unposted_charges(rated: i64, posted: i64) -> ErrorReport {
    report(
        ERRCODE_FOREIGN_KEY_VIOLATION,
        format!(
            "{rated} usage {} rated but only {posted} posted: an account lost its balance row during the statement",
            if rated == 1 { "row was" } else { "rows were" }
        ),
    )
    .set_hint("Was an account deleted meanwhile? Every account needs its row in rating.balances.")
}

pub fn not_null(table: &str, column: &str) -> ErrorReport {
    report(
        ERRCODE_NOT_NULL_VIOLATION,
        format!("null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"),
    )
}

impl From<CatalogError> for ErrorReport {
    fn from(error: CatalogError) -> Self {
        let code = match &error {
            CatalogError::UnknownAccount(_) | CatalogError::UnknownTariff(_) => {
                ERRCODE_FOREIGN_KEY_VIOLATION
            }
            CatalogError::InvalidTariff { .. } => ERRCODE_CHECK_VIOLATION,
            CatalogError::Internal(_) => ERRCODE_INTERNAL_ERROR,
        };
        let hint = match &error {
            CatalogError::UnknownAccount(_) => Some("Create the account in rating.accounts first."),
            CatalogError::InvalidTariff { .. } => {
                Some("Correct the tariff's rates in rating.rates.")
            }
            _ => None,
        };
        let report = report(code, error.to_string());
        match hint {
            Some(hint) => report.set_hint(hint),
            None => report,
        }
    }
}

impl From<UsageError> for ErrorReport {
    fn from(error: UsageError) -> Self {
        match error {
            UsageError::NullColumn(column) => not_null("usage", column),
            UsageError::Prerated => report(
                ERRCODE_GENERATED_ALWAYS,
                "usage rows are priced by pg_rating: status and charge must be left NULL on INSERT".into(),
            )
            .set_hint("To restore a dump of rating.usage, load it with session_replication_role = replica (see the README)."),
            UsageError::Quantity(error) => numeric("quantity", &error),
            UsageError::NotFiniteTime(occurred_at) => report(
                ERRCODE_DATETIME_FIELD_OVERFLOW,
                format!("occurred_at {occurred_at} is not a finite time"),
            )
            .set_hint("Usage is priced by the subscription and rates in force when it occurred: give the time it happened."),
            UsageError::Catalog(error) => error.into(),
            UsageError::NoSubscription { account_id, occurred_at } => report(
                ERRCODE_NO_DATA_FOUND,
                format!("account {account_id} has no subscription in force at {occurred_at}"),
            )
            .set_hint("Add a row to rating.subscriptions whose period covers occurred_at."),
            UsageError::CurrencyMismatch { account_id, account_currency, given } => report(
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("usage currency \"{}\" does not match account {account_id}'s currency \"{account_currency}\"", shown(&given)),
            )
            .set_hint("Leave usage.currency NULL: rating fills it in."),
            UsageError::TariffCurrency { account_id, tariff_id, account_currency, tariff_currency } => report(
                ERRCODE_CHECK_VIOLATION,
                format!(
                    "tariff {tariff_id} prices in \"{tariff_currency}\" but account {account_id} is in \"{account_currency}\""
                ),
            ),
            UsageError::Rating { account_id, tariff_id, occurred_at, error } => {
                rating(error, account_id, tariff_id, occurred_at.to_string())
            }
        }
    }
}

fn rating(error: RatingError, account_id: i64, tariff_id: i64, occurred_at: String) -> ErrorReport {
    let code = match error {
        RatingError::NoRate { .. } => ERRCODE_NO_DATA_FOUND,
        RatingError::BeyondTimeZone(_) => ERRCODE_DATETIME_FIELD_OVERFLOW,
        RatingError::MixedUnits { .. } => ERRCODE_CHECK_VIOLATION,
        RatingError::TooManyBandChanges(_) => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        RatingError::NegativeQuantity(_)
        | RatingError::QuantityTooLarge(_)
        | RatingError::ChargeOutOfRange { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
    };
    let report = match &error {
        RatingError::NoRate { .. } => report(
            code,
            format!("{error} in tariff {tariff_id} (account {account_id}) at {occurred_at}"),
        )
        .set_hint("Add a rate for the service to the tariff, or correct the usage row's service."),
        RatingError::MixedUnits { .. } => report(
            code,
            format!("{error} in tariff {tariff_id} (account {account_id})"),
        )
        .set_hint(
            "Give the rates of every time band of a per-second service quantity_unit 'second'.",
        ),
        _ => report(code, format!("{error} (account {account_id})")),
    };
    report
}

/// A rate row refused at write time, named by its tariff, service and prefix.
pub fn invalid_rate(
    error: TariffError,
    tariff_id: i64,
    service: &str,
    prefix: &str,
) -> ErrorReport {
    let hint = match error {
        TariffError::CapBelowMinimum { .. } => "maximum_charge caps each event, so it cannot be below minimum_charge.",
        TariffError::InvalidTiers(_) | TariffError::TiersWithoutTieredModel { .. } | TariffError::PricedByTiers { .. } => {
            "Graduated and volume rates take their prices from rating.rate_tiers: tiers from 0, each starting where the last ended, the last with no tier_to."
        }
        TariffError::NotUsedByModel { .. } | TariffError::UnknownPricingModel(_) => {
            "per_unit rates use per_quantity and the increments; package rates use per_quantity as the package size; flat and percentage rates use neither."
        }
        _ => "Increments and per_quantity must be positive; prices, fees and minimums must not be negative.",
    };
    report(
        ERRCODE_CHECK_VIOLATION,
        format!(
            "invalid rate for tariff {tariff_id}, service \"{}\", prefix \"{}\": {error}",
            shown(service),
            shown(prefix)
        ),
    )
    .set_hint(hint)
}

/// A tariff whose time zone or time bands the engine refuses.
pub fn invalid_time_bands(tariff_id: i64, error: TariffError) -> ErrorReport {
    match error {
        TariffError::UnknownTimeZone(_) => report(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid time zone for tariff {tariff_id}: {error}"),
        )
        .set_hint("Use an IANA time zone name, such as Europe/Berlin, America/New_York or UTC."),
        _ => report(
            ERRCODE_CHECK_VIOLATION,
            format!("invalid time bands for tariff {tariff_id}: {error}"),
        )
        .set_hint("The rows of rating.time_band_hours of a tariff must cover every day from 00:00 to 24:00 exactly once."),
    }
}

/// Something the schema promises cannot happen did: a bug, reported as such.
pub fn report_internal(what: String) -> ErrorReport {
    report(
        ERRCODE_INTERNAL_ERROR,
        format!("pg_rating internal error: {what}"),
    )
}

/// The Rust side of `rating.check_account_access`: same SQLSTATE and message.
pub fn permission_denied_for_account(account_id: i64) -> ErrorReport {
    report(
        ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("permission denied for account {account_id}"),
    )
    .set_hint("A tenant's roles may act only on the accounts of their tenants.")
}
