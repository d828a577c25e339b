//! Tenancy where row-level security does not reach: pg_rating's SECURITY
//! DEFINER functions written in Rust, and the rating trigger, which reads
//! accounts from the backend's cache. Both refuse another tenant's account
//! (and an unknown one, so that a tenant learns nothing of others') with the
//! account's number, before anything about it shows in an error.
//!
//! Which tenants the session's role acts for is cached with the accounts
//! (see [`catalog::role_tenants`]): asked again after the role changes (SET
//! ROLE, SET SESSION AUTHORIZATION), and after any session commits a change
//! to roles or memberships, or to the catalog tables (rating.tenants among
//! them).

use crate::catalog::{self, CatalogError};
use crate::errors::{permission_denied_for_account, raise};
use pgrx::prelude::*;

/// Raises 42501 unless the session's role may act on the account.
pub fn check_account_access(account_id: i64) {
    if !may_act_on(account_id) {
        raise(permission_denied_for_account(account_id));
    }
}

fn may_act_on(account_id: i64) -> bool {
    // The role of SET ROLE, or the session's: inside a SECURITY DEFINER
    // function the current user is the extension's owner.
    let role = unsafe { pg_sys::GetOuterUserId() };
    let tenants = catalog::role_tenants(role).unwrap_or_else(|error| raise(error));
    let Some(restricted_to) = &tenants.restricted_to else {
        return true;
    };
    match catalog::account(account_id) {
        Ok(account) => account
            .tenant_id
            .as_ref()
            .is_some_and(|tenant| restricted_to.contains(tenant)),
        Err(CatalogError::UnknownAccount(_)) => false,
        Err(error) => raise(error),
    }
}
