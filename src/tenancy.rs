//! Tenancy where row-level security does not reach: pg_rating's SECURITY
//! DEFINER functions written in Rust, and the rating trigger, which reads
//! accounts from the backend's cache. Both refuse another tenant's account
//! (and an unknown one, so that a tenant learns nothing of others') with the
//! account's number, before anything about it shows in an error.
//!
//! Which tenants the session's role acts for is asked of
//! `rating.restricted_tenants()` (sql/tenancy.sql) once, and asked again
//! after the role changes (SET ROLE, SET SESSION AUTHORIZATION), after any
//! session commits a change to roles or memberships, or to the catalog
//! tables (rating.tenants among them).

use crate::catalog::{self, invalidation, CatalogError};
use crate::errors::{permission_denied_for_account, raise, report_internal};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

/// What the last answer depended on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Asked {
    generation: u64,
    roles_epoch: u64,
    role: pg_sys::Oid,
}

/// The tenants the session's role acts for; None: every account.
type Tenants = Option<Rc<[String]>>;

thread_local! {
    static ANSWER: RefCell<Option<(Asked, Tenants)>> = const { RefCell::new(None) };
}

/// Raises 42501 unless the session's role may act on the account.
pub fn check_account_access(account_id: i64) {
    if !may_act_on(account_id) {
        raise(permission_denied_for_account(account_id));
    }
}

fn may_act_on(account_id: i64) -> bool {
    let Some(tenants) = restricted_tenants() else {
        return true;
    };
    match catalog::account(account_id) {
        Ok(account) => account
            .tenant_id
            .as_ref()
            .is_some_and(|tenant| tenants.contains(tenant)),
        Err(CatalogError::UnknownAccount(_)) => false,
        Err(error) => raise(error),
    }
}

fn restricted_tenants() -> Tenants {
    let asked = Asked {
        generation: invalidation::current_generation(),
        roles_epoch: invalidation::roles_epoch(),
        // The role of SET ROLE, or the session's: inside a SECURITY DEFINER
        // function the current user is the extension's owner.
        role: unsafe { pg_sys::GetOuterUserId() },
    };
    let known = ANSWER.with_borrow(|answer| {
        answer
            .as_ref()
            .filter(|(asked_then, _)| *asked_then == asked)
            .map(|(_, tenants)| tenants.clone())
    });
    if let Some(tenants) = known {
        return tenants;
    }
    let tenants = ask_restricted_tenants();
    // An invalidation taken in while asking may have changed the answer:
    // use it this once, but ask again next time.
    if invalidation::current_generation() == asked.generation
        && invalidation::roles_epoch() == asked.roles_epoch
    {
        ANSWER.set(Some((asked, tenants.clone())));
    }
    tenants
}

fn ask_restricted_tenants() -> Tenants {
    // Before 0.2.0 there were no tenants (a new library, the old schema).
    catalog::rating_relation(c"tenants")?;
    Spi::get_one::<Vec<String>>("SELECT rating.restricted_tenants()")
        .unwrap_or_else(|e| {
            raise(report_internal(format!(
                "asking which tenants the session's role acts for: {e}"
            )))
        })
        .map(Rc::from)
}
