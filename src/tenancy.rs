//! Tenancy for the SECURITY DEFINER functions written in Rust: row-level
//! security does not apply to them, so they ask `rating.account_accessible`
//! (sql/tenancy.sql) before reading an account's tariff.

use crate::errors::{permission_denied_for_account, raise, report_internal};
use crate::plans::{kept, INT8};
use pgrx::prelude::*;

const ACCOUNT_ACCESSIBLE: &str = include_str!("../sql/queries/account_accessible.sql");

/// Raises 42501 unless the session's role may act on the account.
pub fn check_account_access(account_id: i64) {
    let accessible = Spi::connect(|client| {
        let plan = kept(client, ACCOUNT_ACCESSIBLE, &[INT8], false)?;
        client
            .select(&*plan, Some(1), &[account_id.into()])?
            .first()
            .get_one::<bool>()
    })
    .unwrap_or_else(|e| {
        raise(report_internal(format!(
            "checking access to account {account_id}: {e}"
        )))
    });
    if accessible != Some(true) {
        raise(permission_denied_for_account(account_id));
    }
}
