//! The one error type of the library, with stable codes.

/// Every failure of the library. Each variant carries a human-readable message that names the
/// offending field or value; [`StateError::code`] gives the stable machine-readable code that the
/// JavaScript `StateError` exposes as `.code`.
///
/// A call that returns an error has changed nothing, and the store stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A snapshot input is malformed (wrong type, missing or unknown field, bad version, non-object data).
    #[error("{0}")]
    InvalidSnapshot(String),
    /// A usage event input is malformed.
    #[error("{0}")]
    InvalidEvent(String),
    /// A timestamp is malformed, out of range, or has no UTC offset.
    #[error("{0}")]
    InvalidTimestamp(String),
    /// Any other argument (options, ids, limits, offsets, formats) is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// `ASAP_STORAGE_BACKEND` names no known backend.
    #[error("{0}")]
    UnknownBackend(String),
    /// `expectedVersion` did not match the task's latest version.
    #[error("{0}")]
    VersionConflict(String),
    /// The bytes or file are not a readable SQLite database.
    #[error("{0}")]
    CorruptDatabase(String),
    /// A SQLite database whose tables do not have the expected columns.
    #[error("{0}")]
    SchemaMismatch(String),
    /// The database is in use by another process.
    #[error("{0}")]
    DatabaseLocked(String),
    /// Reading or writing the underlying storage failed.
    #[error("{0}")]
    StorageIo(String),
    /// A value exceeds a size limit of the library.
    #[error("{0}")]
    TooLarge(String),
    /// The store or database was closed.
    #[error("{0}")]
    Closed(String),
}

/// Every code [`StateError::code`] can return, in declaration order.
pub const ERROR_CODES: [&str; 12] = [
    "INVALID_SNAPSHOT",
    "INVALID_EVENT",
    "INVALID_TIMESTAMP",
    "INVALID_ARGUMENT",
    "UNKNOWN_BACKEND",
    "VERSION_CONFLICT",
    "CORRUPT_DATABASE",
    "SCHEMA_MISMATCH",
    "DATABASE_LOCKED",
    "STORAGE_IO",
    "TOO_LARGE",
    "CLOSED",
];

impl StateError {
    /// The stable code of this error, e.g. `"VERSION_CONFLICT"`.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::InvalidSnapshot(_) => "INVALID_SNAPSHOT",
            StateError::InvalidEvent(_) => "INVALID_EVENT",
            StateError::InvalidTimestamp(_) => "INVALID_TIMESTAMP",
            StateError::InvalidArgument(_) => "INVALID_ARGUMENT",
            StateError::UnknownBackend(_) => "UNKNOWN_BACKEND",
            StateError::VersionConflict(_) => "VERSION_CONFLICT",
            StateError::CorruptDatabase(_) => "CORRUPT_DATABASE",
            StateError::SchemaMismatch(_) => "SCHEMA_MISMATCH",
            StateError::DatabaseLocked(_) => "DATABASE_LOCKED",
            StateError::StorageIo(_) => "STORAGE_IO",
            StateError::TooLarge(_) => "TOO_LARGE",
            StateError::Closed(_) => "CLOSED",
        }
    }

    /// The human-readable message (the same text `Display` prints).
    pub fn message(&self) -> &str {
        match self {
            StateError::InvalidSnapshot(m)
            | StateError::InvalidEvent(m)
            | StateError::InvalidTimestamp(m)
            | StateError::InvalidArgument(m)
            | StateError::UnknownBackend(m)
            | StateError::VersionConflict(m)
            | StateError::CorruptDatabase(m)
            | StateError::SchemaMismatch(m)
            | StateError::DatabaseLocked(m)
            | StateError::StorageIo(m)
            | StateError::TooLarge(m)
            | StateError::Closed(m) => m,
        }
    }
}

/// `Result` with [`StateError`].
pub type Result<T, E = StateError> = std::result::Result<T, E>;
