//! The one error type of the library, with stable codes.

/// Defines [`StateError`], its codes and [`ERROR_CODES`] from one list, so a code is written once.
macro_rules! state_errors {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )*) => {
        /// Every failure of the library. Each variant carries a human-readable message that
        /// names the offending field or value; [`StateError::code`] gives the stable
        /// machine-readable code that the JavaScript `StateError` exposes as `.code` (and
        /// `StateError.codes` lists).
        ///
        /// A call that returns an error has changed nothing, and the store stays usable (but
        /// for `ENGINE_FAILED`, which says the whole WebAssembly instance is gone).
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[non_exhaustive]
        pub enum StateError {
            $( $(#[$doc])* #[error("{0}")] $variant(String), )*
        }

        /// Every code [`StateError::code`] can return, in declaration order.
        pub const ERROR_CODES: [&str; [$($code),*].len()] = [$($code),*];

        impl StateError {
            /// The stable code of this error, e.g. `"VERSION_CONFLICT"`.
            pub fn code(&self) -> &'static str {
                match self {
                    $( StateError::$variant(_) => $code, )*
                }
            }

            /// The human-readable message (the same text `Display` prints).
            pub fn message(&self) -> &str {
                match self {
                    $( StateError::$variant(m) )|* => m,
                }
            }
        }
    };
}

state_errors! {
    /// A snapshot input is malformed (wrong type, missing or unknown field, bad version, non-object data).
    InvalidSnapshot => "INVALID_SNAPSHOT",
    /// A usage event input is malformed.
    InvalidEvent => "INVALID_EVENT",
    /// A timestamp is malformed, out of range, or has no UTC offset.
    InvalidTimestamp => "INVALID_TIMESTAMP",
    /// Any other argument (options, ids, limits, offsets, formats) is invalid.
    InvalidArgument => "INVALID_ARGUMENT",
    /// `ASAP_STORAGE_BACKEND` names no known backend.
    UnknownBackend => "UNKNOWN_BACKEND",
    /// `expectedVersion` did not match the task's latest version.
    VersionConflict => "VERSION_CONFLICT",
    /// The bytes or file are not a readable SQLite database.
    CorruptDatabase => "CORRUPT_DATABASE",
    /// A SQLite database whose tables do not have the expected columns.
    SchemaMismatch => "SCHEMA_MISMATCH",
    /// The database is in use by another process.
    DatabaseLocked => "DATABASE_LOCKED",
    /// Reading or writing the underlying storage failed.
    StorageIo => "STORAGE_IO",
    /// A value exceeds a size limit of the library.
    TooLarge => "TOO_LARGE",
    /// The store or database was closed.
    Closed => "CLOSED",
    /// The package's WebAssembly is still loading (the browser entries load it without
    /// top-level await): `await ready()` first, or use an async API. Never returned by the Rust
    /// core itself.
    NotReady => "NOT_READY",
    /// The WebAssembly instance stopped on an internal fault (a Rust panic): every store of
    /// that instance is unusable. Load the package again (a new instance) and reopen; what a
    /// file-backed store committed before the fault is intact. Never returned by the Rust core
    /// itself.
    EngineFailed => "ENGINE_FAILED",
}

/// `Result` with [`StateError`].
pub type Result<T, E = StateError> = std::result::Result<T, E>;
