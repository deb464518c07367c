//! Test hooks for the kill-safety tests, compiled into debug builds only: a release
//! build has none of this, and reads no such variable.
//!
//! - `MODELOPS_TEST_ABORT_AT=STEP` aborts the process (as a kill would) when a
//!   writing compile reaches `STEP`: `after-next-written`, `before-exchange`,
//!   `between-renames` (the two-rename fallback only), `after-exchange`,
//!   `before-retire`, `during-cleanup` (removing a retired or left-over tree),
//!   `after-retire`.
//! - `MODELOPS_TEST_NO_EXCHANGE=1` makes the swap use the two-rename fallback, as on
//!   systems without an atomic exchange.

/// Aborts the process when `MODELOPS_TEST_ABORT_AT` names `step` (debug builds).
#[cfg(debug_assertions)]
pub(crate) fn reached(step: &str) {
    if std::env::var_os("MODELOPS_TEST_ABORT_AT").is_some_and(|wanted| wanted == step) {
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn reached(_step: &str) {}

/// Whether the tests asked for the two-rename fallback (debug builds).
#[cfg(debug_assertions)]
#[allow(dead_code)] // not read on systems that have no exchange anyway
pub(crate) fn exchange_disabled() -> bool {
    std::env::var_os("MODELOPS_TEST_NO_EXCHANGE").is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(not(debug_assertions))]
#[allow(dead_code)] // not read on systems that have no exchange anyway
#[inline(always)]
pub(crate) fn exchange_disabled() -> bool {
    false
}
