//! The test model of asap-state, shared by the tests of the workspace and the fuzz targets
//! (`fuzz/`), so that both drive the stores through one definition:
//!
//! * [`model`]: the store operations ([`model::Op`] and the values it holds), decoded from bytes
//!   with `arbitrary` by the fuzz targets; [`strategy`] draws the same operations with proptest.
//! * [`pair`]: the memory stores and a SQLite database side by side ([`pair::Pair`]), an
//!   operation applied to both ([`pair::apply`]), everything observable at once
//!   ([`pair::full_state`]), and a whole differential run ([`pair::run`]).
//! * [`diff`]: applying `diff_json`'s changes to a value, as their documentation says, checking
//!   every ordering promise on the way; comparing JSON by value.
//! * [`harness`]: the fuzz harnesses as plain functions over bytes. The cargo-fuzz targets in
//!   `fuzz/fuzz_targets/` call them, and `tests/fuzz_regressions.rs` replays every crasher and
//!   every input of the committed corpus through them on stable.
//!
//! This is test code: a broken rule is reported by panicking (which libFuzzer reports as a
//! crash and proptest shrinks), hence the lints allowed below.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use std::sync::Arc;

use asap_state::{ManualClock, Runtime, SequentialIds, StateError, Timestamp, ERROR_CODES};
use serde::Serialize;
use serde_json::{Map, Value};

pub mod diff;
pub mod harness;
pub mod model;
pub mod pair;
pub mod strategy;

/// 2026-03-01T00:00:00Z in microseconds since the epoch: the clocks start here.
pub const BASE_MICROS: i64 = 1_772_323_200_000_000;
pub const HOUR: i64 = 3_600_000_000;

/// A deterministic runtime: a manual clock at [`BASE_MICROS`] and sequential ids.
pub fn runtime() -> (Runtime, Arc<ManualClock>) {
    let at = Timestamp::from_micros(BASE_MICROS).unwrap_or(Timestamp::MIN);
    let clock = ManualClock::new(at);
    (Runtime::new(clock.clone(), SequentialIds::new()), clock)
}

/// Checks that `err` is a proper error of the library: one of the codes, one of `allowed`,
/// and a non-empty message.
pub fn check_error(err: &StateError, allowed: &[&str], what: &str) {
    let code = err.code();
    assert!(
        ERROR_CODES.contains(&code),
        "{what}: code {code:?} is not one of the codes"
    );
    assert!(
        allowed.contains(&code),
        "{what}: unexpected error code {code} (allowed: {allowed:?}): {}",
        err.message()
    );
    assert!(
        !err.message().is_empty(),
        "{what}: {code} without a message"
    );
}

/// Checks a result's error (if any) and returns the `Ok` value.
pub fn checked<T>(r: Result<T, StateError>, allowed: &[&str], what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            check_error(&e, allowed, what);
            None
        }
    }
}

/// An answer as comparable data: the `Ok` value as JSON, or the error code.
pub type Answer = Result<Value, &'static str>;

pub fn answer<T: Serialize>(r: Result<T, StateError>) -> Answer {
    match r {
        Ok(v) => Ok(serde_json::to_value(v).unwrap_or_else(|e| Value::String(e.to_string()))),
        Err(e) => {
            check_error(&e, &ERROR_CODES, "answer");
            Err(e.code())
        }
    }
}

pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("value".to_owned(), other);
            m
        }
    }
}
