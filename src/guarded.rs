//! [`Guarded`]: a store behind a handle that can be closed.
//!
//! Several handles may share one database (every open of a path in one process does); closing a
//! handle must stop that handle's stores without closing the database for the others. A
//! [`Guarded`] store checks its handle's [`OpenFlag`] before every call and fails with `CLOSED`
//! once it is closed. The language bindings wrap every store they hand out in one, so the check
//! is written once, and every path into a store (its methods, the ASAP state messages answered
//! from it, copies) goes through it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Result, StateError};
use crate::model::{
    DataText, StateSnapshot, StateSnapshotInput, TaskSummary, UsageAggregate, UsageBucket,
    UsageEvent, UsageEventInput,
};
use crate::options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};
use crate::store::{MeteringStore, SnapshotStore};
use crate::timestamp::Timestamp;

/// Whether a handle is still open; shared by the handle and every store made from it.
#[derive(Debug, Clone, Default)]
pub struct OpenFlag(Arc<AtomicBool>);

impl OpenFlag {
    /// A flag of an open handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes the handle: every store guarded by this flag fails with `CLOSED` from now on.
    /// Returns whether it was open.
    pub fn close(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Ok` while open, else the `CLOSED` error every guarded call returns.
    pub fn check(&self) -> Result<()> {
        if self.is_closed() {
            Err(StateError::Closed("the database was closed".into()))
        } else {
            Ok(())
        }
    }
}

/// A store that fails with `CLOSED` once its [`OpenFlag`] is closed, and otherwise is the
/// store it wraps (every method, fast paths included, is passed through).
///
/// ```
/// use asap_state::{Guarded, MemorySnapshotStore, OpenFlag, SnapshotStore};
///
/// let flag = OpenFlag::new();
/// let store = Guarded::new(MemorySnapshotStore::new(), flag.clone());
/// assert!(store.list_tasks()?.is_empty());
/// flag.close();
/// assert_eq!(store.list_tasks().unwrap_err().code(), "CLOSED");
/// # Ok::<(), asap_state::StateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    flag: OpenFlag,
}

impl<S> Guarded<S> {
    /// `inner`, open while `flag` is.
    pub fn new(inner: S, flag: OpenFlag) -> Self {
        Guarded { inner, flag }
    }

    /// A store that is never closed.
    pub fn always_open(inner: S) -> Self {
        Guarded::new(inner, OpenFlag::new())
    }

    /// The wrapped store, for what is not a store call; fails with `CLOSED` once closed.
    pub fn checked(&self) -> Result<&S> {
        self.flag.check()?;
        Ok(&self.inner)
    }

    /// The flag this store checks.
    pub fn flag(&self) -> &OpenFlag {
        &self.flag
    }
}

/// Each method: the open check, then the wrapped store's method with the same arguments.
macro_rules! guarded {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                self.flag.check()?;
                self.inner.$name($($arg),*)
            }
        )*
    };
}

impl<S: SnapshotStore> SnapshotStore for Guarded<S> {
    guarded! {
        save(input: StateSnapshotInput, options: SaveOptions) -> StateSnapshot;
        get(task_id: &str, version: Option<u64>) -> Option<StateSnapshot>;
        save_json(input: StateSnapshotInput, options: SaveOptions) -> String;
        save_data_text(input: StateSnapshotInput, data: DataText, options: SaveOptions) -> String;
        get_json(task_id: &str, version: Option<u64>) -> Option<String>;
        get_by_id(task_id: &str, snapshot_id: &str) -> Option<StateSnapshot>;
        get_by_id_json(task_id: &str, snapshot_id: &str) -> Option<String>;
        list_versions(task_id: &str) -> Vec<u64>;
        delete(task_id: &str, version: Option<u64>) -> bool;
        list_tasks() -> Vec<TaskSummary>;
        prune(task_id: &str, policy: PrunePolicy) -> u64;
    }
}

impl<S: MeteringStore> MeteringStore for Guarded<S> {
    guarded! {
        record(input: UsageEventInput) -> UsageEvent;
        query(agent_id: &str, start: Timestamp, end: Timestamp, options: QueryOptions) -> Vec<UsageEvent>;
        query_json(agent_id: &str, start: Timestamp, end: Timestamp, options: QueryOptions) -> String;
        aggregate(agent_id: &str, period: &str, window: Window) -> UsageAggregate;
        series(agent_id: &str, options: SeriesOptions) -> Vec<UsageBucket>;
        agents() -> Vec<String>;
        export(format: ExportFormat, filter: &ExportFilter) -> String;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryMeteringStore, MemorySnapshotStore};
    use crate::model::StateSnapshotInput;

    #[test]
    fn every_call_fails_with_closed_once_the_flag_is_closed_and_changes_nothing() {
        let flag = OpenFlag::new();
        let snaps = Guarded::new(MemorySnapshotStore::new(), flag.clone());
        let meter = Guarded::new(MemoryMeteringStore::new(), flag.clone());
        let input = || StateSnapshotInput::new("t", serde_json::Map::new());
        snaps.save(input(), SaveOptions::default()).unwrap();
        assert!(snaps.checked().is_ok());
        assert!(!flag.is_closed());
        assert!(flag.close());
        assert!(!flag.close(), "closing twice reports it was already closed");
        let closed = |e: StateError| {
            assert_eq!(e.code(), "CLOSED");
            assert_eq!(e.message(), "the database was closed");
        };
        closed(snaps.save(input(), SaveOptions::default()).unwrap_err());
        closed(
            snaps
                .save_json(input(), SaveOptions::default())
                .unwrap_err(),
        );
        let text = DataText::from_canonical("{}".into()).unwrap();
        closed(
            snaps
                .save_data_text(input(), text, SaveOptions::default())
                .unwrap_err(),
        );
        closed(snaps.get("t", None).unwrap_err());
        closed(snaps.get_json("t", None).unwrap_err());
        closed(snaps.get_by_id("t", "x").unwrap_err());
        closed(snaps.get_by_id_json("t", "x").unwrap_err());
        closed(snaps.list_versions("t").unwrap_err());
        closed(snaps.delete("t", None).unwrap_err());
        closed(snaps.list_tasks().unwrap_err());
        closed(snaps.prune("t", PrunePolicy::default()).unwrap_err());
        closed(snaps.checked().unwrap_err());
        let event = UsageEventInput::new("t", "a", "c");
        closed(meter.record(event).unwrap_err());
        let (start, end) = (Timestamp::MIN, Timestamp::MIN);
        closed(
            meter
                .query("a", start, end, QueryOptions::default())
                .unwrap_err(),
        );
        closed(
            meter
                .query_json("a", start, end, QueryOptions::default())
                .unwrap_err(),
        );
        closed(meter.aggregate("a", "all", Window::default()).unwrap_err());
        let series = SeriesOptions {
            bucket: crate::BucketSize::Hour,
            start,
            end,
        };
        closed(meter.series("a", series).unwrap_err());
        closed(meter.agents().unwrap_err());
        closed(
            meter
                .export(ExportFormat::Json, &ExportFilter::default())
                .unwrap_err(),
        );
        // The store behind the flag kept what it had.
        assert!(flag.is_closed());
        assert_eq!(snaps.inner.list_versions("t").unwrap(), vec![1]);
    }
}
