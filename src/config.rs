//! Backend selection from the environment, like the reference's `create_snapshot_store()`.

use crate::error::{Result, StateError};
use crate::memory::{MemoryMeteringStore, MemorySnapshotStore};
use crate::runtime::Runtime;
use crate::store::{MeteringStore, SnapshotStore};

/// The variable that selects the backend.
pub const ASAP_STORAGE_BACKEND_ENV: &str = "ASAP_STORAGE_BACKEND";
/// The variable that names the SQLite file.
pub const ASAP_STORAGE_PATH_ENV: &str = "ASAP_STORAGE_PATH";
/// The SQLite file used when `ASAP_STORAGE_PATH` is unset.
pub const DEFAULT_DB_PATH: &str = "asap_state.db";

/// Which backend the environment selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// `memory` (the default).
    Memory,
    /// `sqlite`, at this path.
    Sqlite {
        /// The database file.
        path: String,
    },
}

impl BackendConfig {
    /// Reads `ASAP_STORAGE_BACKEND` (default `memory`, trimmed and lower-cased) and
    /// `ASAP_STORAGE_PATH` (default `asap_state.db`, trimmed) through `var`. Any other backend
    /// is `UNKNOWN_BACKEND` with exactly the reference's message.
    ///
    /// ```
    /// use asap_state::BackendConfig;
    /// let err = BackendConfig::from_vars(|k| (k == "ASAP_STORAGE_BACKEND").then(|| " Redis ".to_string()))
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let backend = var(ASAP_STORAGE_BACKEND_ENV)
            .unwrap_or_else(|| "memory".to_owned())
            .trim()
            // ASCII only: the names it can match are ASCII, and full Unicode case tables would
            // cost the memory-only wasm about 4 KB gzip. (Other letters keep their case in the
            // message, where Python's `lower()` would fold them.)
            .to_ascii_lowercase();
        match backend.as_str() {
            "memory" => Ok(BackendConfig::Memory),
            "sqlite" => Ok(BackendConfig::Sqlite {
                path: var(ASAP_STORAGE_PATH_ENV)
                    .unwrap_or_else(|| DEFAULT_DB_PATH.to_owned())
                    .trim()
                    .to_owned(),
            }),
            other => Err(StateError::UnknownBackend(format!(
                "Unknown {ASAP_STORAGE_BACKEND_ENV}={}. Use 'memory' or 'sqlite'.",
                python_repr(other)
            ))),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        BackendConfig::from_vars(|k| std::env::var(k).ok())
    }
}

/// The snapshot store the environment selects, like the reference's `create_snapshot_store()`:
/// `ASAP_STORAGE_BACKEND` = `memory` (default) or `sqlite` (at `ASAP_STORAGE_PATH`, default
/// `asap_state.db`); anything else is `UNKNOWN_BACKEND` with the reference's message. Stores
/// created on one path share one database.
///
/// ```
/// # std::env::remove_var("ASAP_STORAGE_BACKEND");
/// let store = asap_state::create_snapshot_store()?;
/// assert!(store.list_tasks()?.is_empty());
/// # Ok::<(), asap_state::StateError>(())
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub fn create_snapshot_store() -> Result<Box<dyn SnapshotStore + Send + Sync>> {
    create_snapshot_store_with(BackendConfig::from_env()?, Runtime::default())
}

/// The metering store the environment selects (see [`create_snapshot_store`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn create_metering_store() -> Result<Box<dyn MeteringStore + Send + Sync>> {
    create_metering_store_with(BackendConfig::from_env()?, Runtime::default())
}

/// The snapshot store of a configuration, on a runtime of the caller's.
pub fn create_snapshot_store_with(
    config: BackendConfig,
    runtime: Runtime,
) -> Result<Box<dyn SnapshotStore + Send + Sync>> {
    Ok(match config {
        BackendConfig::Memory => Box::new(MemorySnapshotStore::with_runtime(runtime)),
        #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
        BackendConfig::Sqlite { path } => {
            Box::new(crate::SqliteStateDb::open_path(path, runtime)?.snapshots())
        }
        #[cfg(not(all(feature = "sqlite", not(target_arch = "wasm32"))))]
        BackendConfig::Sqlite { path } => return Err(no_sqlite(&path)),
    })
}

/// The metering store of a configuration, on a runtime of the caller's.
pub fn create_metering_store_with(
    config: BackendConfig,
    runtime: Runtime,
) -> Result<Box<dyn MeteringStore + Send + Sync>> {
    Ok(match config {
        BackendConfig::Memory => Box::new(MemoryMeteringStore::with_runtime(runtime)),
        #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
        BackendConfig::Sqlite { path } => {
            Box::new(crate::SqliteStateDb::open_path(path, runtime)?.metering())
        }
        #[cfg(not(all(feature = "sqlite", not(target_arch = "wasm32"))))]
        BackendConfig::Sqlite { path } => return Err(no_sqlite(&path)),
    })
}

/// Without the `sqlite` feature, or without a filesystem (wasm32: the bindings open files
/// through their host, in `asap-state-wasm`), `sqlite` is refused rather than given an
/// in-memory image that would silently keep nothing.
#[cfg(not(all(feature = "sqlite", not(target_arch = "wasm32"))))]
fn no_sqlite(path: &str) -> StateError {
    let why = if cfg!(feature = "sqlite") {
        "this target has no filesystem"
    } else {
        "this build has no SQLite backend (the crate's `sqlite` feature is off)"
    };
    StateError::StorageIo(format!(
        "{ASAP_STORAGE_BACKEND_ENV}=sqlite ({path:?}): {why}"
    ))
}

/// Python's `repr()` of a string: single quotes unless the text holds a single quote and no
/// double quote; backslashes and the chosen quote escaped.
fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn selects_backends_like_the_reference() {
        assert_eq!(
            BackendConfig::from_vars(env(&[])).unwrap(),
            BackendConfig::Memory
        );
        assert_eq!(
            BackendConfig::from_vars(env(&[("ASAP_STORAGE_BACKEND", "  MeMoRy  ")])).unwrap(),
            BackendConfig::Memory
        );
        assert_eq!(
            BackendConfig::from_vars(env(&[("ASAP_STORAGE_BACKEND", " SQLITE ")])).unwrap(),
            BackendConfig::Sqlite {
                path: "asap_state.db".into()
            }
        );
        assert_eq!(
            BackendConfig::from_vars(env(&[
                ("ASAP_STORAGE_BACKEND", "sqlite"),
                ("ASAP_STORAGE_PATH", " /tmp/x.db ")
            ]))
            .unwrap(),
            BackendConfig::Sqlite {
                path: "/tmp/x.db".into()
            }
        );
    }

    #[test]
    fn unknown_backend_message_is_the_references() {
        let cases = [
            (
                "redis",
                "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.",
            ),
            (
                "",
                "Unknown ASAP_STORAGE_BACKEND=''. Use 'memory' or 'sqlite'.",
            ),
            (
                "it's",
                "Unknown ASAP_STORAGE_BACKEND=\"it's\". Use 'memory' or 'sqlite'.",
            ),
            (
                "a\\b",
                "Unknown ASAP_STORAGE_BACKEND='a\\\\b'. Use 'memory' or 'sqlite'.",
            ),
        ];
        for (value, message) in cases {
            let err =
                BackendConfig::from_vars(env(&[("ASAP_STORAGE_BACKEND", value)])).unwrap_err();
            assert_eq!(err.code(), "UNKNOWN_BACKEND");
            assert_eq!(err.to_string(), message);
        }
    }
}
