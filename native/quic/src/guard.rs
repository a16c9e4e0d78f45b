//! The napi boundary: every call from JavaScript runs inside `guard`, so a Rust panic becomes a
//! JavaScript `Error` (named `NativeQuicPanic: ...`) instead of aborting the Node process. An
//! endpoint that panicked is poisoned: its state may be half-updated, so every later call on it
//! fails with the same error rather than acting on that state.

use napi::{Error, Result, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into an `Error` whose message carries the panic's text.
pub fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let text = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "unknown panic".to_string()
            };
            Err(Error::new(
                Status::GenericFailure,
                format!("NativeQuicPanic: {text}"),
            ))
        }
    }
}

/// An `InvalidArg` error naming what was wrong with a call from JavaScript.
pub fn invalid(what: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, what.into())
}
