//! Posting a statement's rated rows with the table access method's own
//! calls ([`crate::table_access`]) instead of SQL: by account for a small
//! statement, such as a mediation system's single-row INSERT
//! ([`by_account`]), and in two passes over the transition table for a
//! large one ([`streamed`]).
//!
//! The kept statement that posted a single row
//! (sql/queries/post_direct_charge.sql) cost about 200,000 instructions,
//! most of them in starting, running and ending an executor for two small
//! plans, reading and planning the ledger's CHECK again, and running the
//! balances' alert trigger; a large statement paid the set-based statement's
//! sums, hash join and window sort. The row changes are the same here: each
//! balance is found by its key and locked at its latest version, in account
//! order, as an UPDATE in READ COMMITTED follows a row updated while it
//! waited; moved once by its account's charges; and each charge's entry is
//! inserted, numbered after the balance in usage order, with its index
//! entries and the ledger's rules checked.
//!
//! Only where that is all the statement would have done: neither table has a
//! trigger, rule or CHECK but the extension's own, nor forced row-level
//! security, nor a ledger column it does not fill; and no account has an
//! alert threshold. Otherwise, and whenever a balance is not found and
//! locked as read (a row updated since a REPEATABLE READ snapshot, or
//! deleted), nothing has been written and the caller runs the statement,
//! which refuses or alerts as it always has.

pub mod by_account;
pub mod streamed;

use crate::alerts::any_account_watched;
use crate::deformed::Deformed;
use crate::errors::{raise, report_internal};
use crate::index_scan::{
    column, open_settled, rating_relation, valid_index, KeptLayout, KeyLookup, Opened, Snapshot,
};
use crate::ledger_check::{refuse_malformed, LedgerEntry};
use crate::numeric::NumericDatum;
use crate::posting::Charge;
use crate::table_access::{self, live_columns, writes_skip_nothing, Slot};
use crate::usage_columns::{self, required, UsageColumns};
use pgrx::datum::{IntoDatum, TimestampWithTimeZone};
use pgrx::fcinfo::direct_function_call_as_datum;
use pgrx::pg_sys::{self, AttrNumber, Datum, Oid};
use std::cell::Cell;
use std::ffi::CStr;

/// The ledger's columns, each of which the entry fills: a column added by
/// hand, whose default would be skipped, leaves posting to the statement.
const LEDGER_COLUMNS: [(&CStr, Oid); 12] = [
    (c"account_id", pg_sys::INT8OID),
    (c"entry_no", pg_sys::INT8OID),
    (c"kind", pg_sys::TEXTOID),
    (c"amount", pg_sys::NUMERICOID),
    (c"currency", pg_sys::TEXTOID),
    (c"usage_id", pg_sys::INT8OID),
    (c"description", pg_sys::TEXTOID),
    (c"idempotency_key", pg_sys::TEXTOID),
    (c"corrects_entry_no", pg_sys::INT8OID),
    (c"over_limit", pg_sys::BOOLOID),
    (c"late", pg_sys::BOOLOID),
    (c"posted_at", pg_sys::TIMESTAMPTZOID),
];

/// A ledger row's values, by column number.
type LedgerRow = Vec<(AttrNumber, Option<Datum>)>;

/// The extension's own triggers and CHECKs.
const BALANCES_TRIGGERS: [&CStr; 1] = [c"balances_alert"];
const LEDGER_TRIGGERS: [&CStr; 3] = [
    c"ledger_append_only",
    c"ledger_corrects_an_entry",
    c"ledger_no_truncate",
];
const LEDGER_CHECKS: [&CStr; 1] = [c"ledger_entry_well_formed"];

/// Where the tables and columns are.
#[derive(Clone, Copy)]
struct Layout {
    balances: Oid,
    balances_by_account: Oid,
    balance_account: AttrNumber,
    balance: AttrNumber,
    last_entry_no: AttrNumber,
    invoiced_through: AttrNumber,
    updated_at: AttrNumber,
    ledger: Oid,
    /// The number of each of LEDGER_COLUMNS.
    ledger_columns: [AttrNumber; LEDGER_COLUMNS.len()],
}

thread_local! {
    static LAYOUT: KeptLayout<Layout> = const { Cell::new(None) };
}

fn resolve() -> Option<Layout> {
    let balances = rating_relation(c"balances")?;
    let ledger = rating_relation(c"ledger")?;
    let mut ledger_columns = [0; LEDGER_COLUMNS.len()];
    for (at, (name, type_oid)) in ledger_columns.iter_mut().zip(LEDGER_COLUMNS) {
        *at = column(ledger, name, type_oid)?;
    }
    Some(Layout {
        balances,
        balances_by_account: valid_index(c"balances_pkey")?,
        balance_account: column(balances, c"account_id", pg_sys::INT8OID)?,
        balance: column(balances, c"balance", pg_sys::NUMERICOID)?,
        last_entry_no: column(balances, c"last_entry_no", pg_sys::INT8OID)?,
        invoiced_through: column(balances, c"invoiced_through", pg_sys::TIMESTAMPTZOID)?,
        updated_at: column(balances, c"updated_at", pg_sys::TIMESTAMPTZOID)?,
        ledger,
        ledger_columns,
    })
}

/// The balances and the ledger, open for writing rows here, with the
/// snapshot the statement's posting reads by.
struct Tables {
    layout: Layout,
    balances: Opened,
    ledger: Opened,
    snapshot: Snapshot,
    /// The transaction's start, the `now()` of the SQL paths.
    now: Datum,
}

impl Tables {
    /// None where the tables are not as the extension made them.
    fn open() -> Option<Self> {
        let (layout, (balances, ledger)) = open_settled(&LAYOUT, resolve, |layout| {
            (
                Opened::for_writing(layout.balances),
                Opened::for_writing(layout.ledger),
            )
        })?;
        if !writes_skip_nothing(&balances, &BALANCES_TRIGGERS, &[])
            || !writes_skip_nothing(&ledger, &LEDGER_TRIGGERS, &LEDGER_CHECKS)
            || live_columns(&ledger) != LEDGER_COLUMNS.len()
        {
            return None;
        }
        // As SPI does before each statement: what this command wrote is seen.
        unsafe { pg_sys::CommandCounterIncrement() };
        Some(Tables {
            layout,
            balances,
            ledger,
            snapshot: Snapshot::take(),
            now: Datum::from(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }),
        })
    }

    /// Locks each account's balance, in the order given (account order, as
    /// every path locks them), and makes of it what `with_locked` makes;
    /// then asks for alert thresholds, as the alert trigger would ask after
    /// the UPDATE (a threshold committed while a lock was awaited counts).
    /// None, before anything is written, when a balance cannot be locked as
    /// read, `with_locked` refuses, or an account is watched.
    fn lock_unwatched<S, T>(
        &self,
        accounts: impl IntoIterator<Item = (i64, S)>,
        mut with_locked: impl FnMut(i64, S, LockedBalance) -> Option<T>,
    ) -> Option<Vec<T>> {
        let layout = &self.layout;
        // One scan for the statement, restarted per account.
        let mut balances_by_account = KeyLookup::open(
            &self.balances,
            layout.balances_by_account,
            layout.balance_account,
            &self.snapshot,
        );
        let mut account_ids = Vec::new();
        let mut locked = Vec::new();
        for (account_id, source) in accounts {
            let balance = self.lock_balance(&mut balances_by_account, account_id)?;
            locked.push(with_locked(account_id, source, balance)?);
            account_ids.push(account_id);
        }
        drop(balances_by_account);
        (any_account_watched(account_ids) == Some(false)).then_some(locked)
    }

    /// The account's balance row, found by key and locked at the version an
    /// UPDATE would move; None if there is none, or if the version seen is
    /// not the latest in REPEATABLE READ.
    fn lock_balance(
        &self,
        balances_by_account: &mut KeyLookup<'_>,
        account_id: i64,
    ) -> Option<LockedBalance> {
        let layout = &self.layout;
        let mut seen = None;
        let _ = balances_by_account.for_each(account_id, |tuple, _| {
            seen = Some(unsafe { (*tuple).t_self });
            Err(())
        });
        let row = table_access::lock_latest(&self.balances, seen?, &self.snapshot)?;
        let still_the_account = row
            .value(layout.balance_account)
            .is_some_and(|key| int8(key) == account_id);
        if !still_the_account {
            return None;
        }
        Some(LockedBalance {
            balance: row.value(layout.balance)?,
            last_entry_no: int8(row.value(layout.last_entry_no)?),
            invoiced_through: row.value(layout.invoiced_through).map(int8),
            row,
        })
    }

    /// Writes the next version of the locked balance `row`: `moved`, with
    /// `last_entry_no`.
    fn move_balance(&self, row: &Slot, moved: Datum, last_entry_no: i64) {
        let layout = &self.layout;
        table_access::update(
            &self.balances,
            &self.snapshot,
            row,
            &[
                (layout.balance, Some(moved)),
                (layout.last_entry_no, Some(Datum::from(last_entry_no))),
                (layout.updated_at, Some(self.now)),
            ],
        );
    }

    /// The ledger row of `charge`'s entry numbered `entry_no`, whose amount
    /// is `amount`, late if it occurred before `invoiced_through`.
    fn ledger_row(
        &self,
        charge: &EntrySource<'_>,
        entry_no: i64,
        amount: Datum,
        invoiced_through: Option<i64>,
    ) -> LedgerRow {
        // As coalesce(occurred_at < invoiced_through, false): timestamps
        // compare as their integers.
        let occurred_at = pg_sys::TimestampTz::from(charge.occurred_at);
        let late = invoiced_through.is_some_and(|through| occurred_at < through);
        let values: [Option<Datum>; LEDGER_COLUMNS.len()] = [
            Some(Datum::from(charge.account_id)),
            Some(Datum::from(entry_no)),
            "charge".into_datum(),
            Some(amount),
            charge.currency.into_datum(),
            Some(Datum::from(charge.usage_id)),
            description(charge).as_str().into_datum(),
            None,
            None,
            Some(Datum::from(false)),
            Some(Datum::from(late)),
            Some(self.now),
        ];
        self.layout.ledger_columns.into_iter().zip(values).collect()
    }
}

/// What a charge's entry is made of: a held [`Charge`]'s values, or a usage
/// row's own, read where they lie.
pub struct EntrySource<'a> {
    pub account_id: i64,
    pub usage_id: i64,
    /// A numeric.
    pub charge: Datum,
    /// A numeric.
    pub quantity: Datum,
    pub currency: &'a str,
    pub service: &'a str,
    pub destination: Option<&'a str>,
    pub occurred_at: TimestampWithTimeZone,
}

impl<'a> EntrySource<'a> {
    /// A rated usage row's values, read where they lie in the row (valid
    /// while the row is).
    pub fn read(row: &'a Deformed<'_>, at: &UsageColumns) -> Self {
        EntrySource {
            account_id: required(row, at.account_id, "account_id"),
            usage_id: required(row, at.usage_id, "usage_id"),
            charge: required::<NumericDatum>(row, at.charge, "charge").0,
            quantity: required::<NumericDatum>(row, at.quantity, "quantity").0,
            currency: required(row, at.currency, "currency"),
            service: required(row, at.service, "service"),
            destination: usage_columns::column(row, at.destination),
            occurred_at: required(row, at.occurred_at, "occurred_at"),
        }
    }

    /// The charge's values, its numerics copied into datums.
    fn of(charge: &'a Charge) -> Option<Self> {
        Some(EntrySource {
            account_id: charge.account_id,
            usage_id: charge.usage_id,
            charge: charge.charge.clone().into_datum()?,
            quantity: charge.quantity.clone().into_datum()?,
            currency: &charge.currency,
            service: &charge.service,
            destination: charge.destination.as_deref(),
            occurred_at: charge.occurred_at,
        })
    }
}

/// A balance row locked for moving, and what posting reads of it.
struct LockedBalance {
    row: Slot,
    balance: Datum,
    last_entry_no: i64,
    invoiced_through: Option<i64>,
}

/// The amount of `charge`'s entry numbered `entry_no` (the charge negated,
/// a numeric); raises check_violation if the ledger's rules refuse the
/// entry.
fn entry_amount(charge: &EntrySource<'_>, entry_no: i64) -> Option<Datum> {
    let amount = numeric(pg_sys::numeric_uminus, &[charge.charge])?;
    unsafe {
        refuse_malformed(&LedgerEntry {
            account_id: Some(charge.account_id),
            entry_no: Some(entry_no),
            kind: "charge",
            amount,
            usage_id: Some(charge.usage_id),
            corrects_entry_no: None,
        })
    };
    Some(amount)
}

/// A numeric function applied to numerics.
fn numeric(
    function: unsafe fn(pg_sys::FunctionCallInfo) -> Datum,
    args: &[Datum],
) -> Option<Datum> {
    let args: Vec<_> = args.iter().copied().map(Some).collect();
    unsafe { direct_function_call_as_datum(function, &args) }
}

/// The entry's description, as the statements write it: service, " to "
/// and the destination if any, and the quantity as numeric_out shows it.
fn description(charge: &EntrySource<'_>) -> String {
    let quantity = unsafe {
        pgrx::direct_function_call::<&CStr>(pg_sys::numeric_out, &[Some(charge.quantity)])
    }
    .and_then(|text| text.to_str().ok())
    .unwrap_or_else(|| {
        raise(report_internal(
            "a quantity numeric_out did not write".into(),
        ))
    });
    let (to, destination) = charge.destination.map_or(("", ""), |d| (" to ", d));
    let parts = [charge.service, to, destination, ", quantity ", quantity];
    // One allocation, sized first (`concat` costs about 300 instructions
    // more per entry).
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// An int8 column's value.
fn int8(datum: Datum) -> i64 {
    datum.value() as i64
}
