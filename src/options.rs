//! Options of the store methods, and strict parsers for their JSON form (camelCase keys, as
//! the JavaScript API takes them). Every parser answers `INVALID_ARGUMENT` (or
//! `INVALID_TIMESTAMP` for a bad time) with a message naming the field.

use serde_json::Value;

use crate::error::{Result, StateError};
use crate::json::{describe, int_value, Fields, MAX_SAFE_INTEGER};
use crate::timestamp::{BucketSize, Timestamp};

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

fn opt_timestamp(f: &Fields<'_>, key: &str, what: &str) -> Result<Option<Timestamp>> {
    f.get(key)
        .map(|v| Timestamp::from_json(v, &format!("{what}.{key}")))
        .transpose()
}

/// Options of [`crate::SnapshotStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Optimistic concurrency: `Some(n)` requires the task's latest version to be `n`;
    /// `Some(0)` requires the task not to exist (JavaScript: `expectedVersion: null` or `0`);
    /// `None` checks nothing.
    pub expected_version: Option<u64>,
}

impl SaveOptions {
    /// Requires the task's latest version to equal `version` (0 = the task must not exist).
    pub fn expect(version: u64) -> Self {
        SaveOptions {
            expected_version: Some(version),
        }
    }

    /// Parses `{ expectedVersion?: number | null }`; `undefined`/absent means no options.
    pub fn from_json(value: Option<&Value>) -> Result<Self> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(SaveOptions::default());
        };
        let f = Fields::new(value, "options", &["expectedVersion"], ARG)?;
        let expected_version = match f.get("expectedVersion") {
            None => None,
            Some(Value::Null) => Some(0),
            Some(v) => Some(int_value(v, "options.expectedVersion", 0, ARG)?),
        };
        Ok(SaveOptions { expected_version })
    }
}

/// Paging of [`crate::MeteringStore::query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// At most this many events; `None` = all.
    pub limit: Option<u64>,
    /// Skip this many events first.
    pub offset: u64,
}

impl QueryOptions {
    /// Parses `{ limit?: number; offset?: number }`. A negative offset gives the reference's
    /// "offset must be non-negative".
    pub fn from_json(value: Option<&Value>) -> Result<Self> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(QueryOptions::default());
        };
        let f = Fields::new(value, "options", &["limit", "offset"], ARG)?;
        let offset = match f.get("offset") {
            None => 0,
            Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x < 0.0) => {
                return Err(ARG(format!("offset must be non-negative, got {n}")))
            }
            Some(v) => int_value(v, "options.offset", 0, ARG)?,
        };
        let limit = match f.get("limit") {
            None => None,
            Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x < 0.0) => {
                return Err(ARG(format!("limit must be non-negative, got {n}")))
            }
            Some(v) => Some(int_value(v, "options.limit", 0, ARG)?),
        };
        Ok(QueryOptions { limit, offset })
    }

    /// Applies the paging to an iterator.
    pub fn page<I: Iterator>(&self, iter: I) -> impl Iterator<Item = I::Item> {
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        iter.skip(skip).take(take)
    }
}

/// A time window; both ends inclusive, either may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Earliest included instant.
    pub start: Option<Timestamp>,
    /// Latest included instant.
    pub end: Option<Timestamp>,
}

impl Window {
    /// Parses `{ start?: TimestampInput; end?: TimestampInput }`.
    pub fn from_json(value: Option<&Value>, what: &str) -> Result<Self> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Window::default());
        };
        let f = Fields::new(value, what, &["start", "end"], ARG)?;
        Ok(Window {
            start: opt_timestamp(&f, "start", what)?,
            end: opt_timestamp(&f, "end", what)?,
        })
    }

    /// `(start or MIN, end or MAX)`.
    pub fn bounds(&self) -> (Timestamp, Timestamp) {
        (
            self.start.unwrap_or(Timestamp::MIN),
            self.end.unwrap_or(Timestamp::MAX),
        )
    }
}

/// Options of [`crate::MeteringStore::series`]: buckets of `bucket` over `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesOptions {
    /// Hour or day (UTC).
    pub bucket: BucketSize,
    /// Included.
    pub start: Timestamp,
    /// Excluded.
    pub end: Timestamp,
}

impl SeriesOptions {
    /// Parses `{ bucket: "hour" | "day"; start; end }` (all required).
    pub fn from_json(value: Option<&Value>) -> Result<Self> {
        let value = value.unwrap_or(&Value::Null);
        let f = Fields::new(value, "options", &["bucket", "start", "end"], ARG)?;
        let bucket = match f.get("bucket") {
            Some(Value::String(s)) if s == "hour" => BucketSize::Hour,
            Some(Value::String(s)) if s == "day" => BucketSize::Day,
            Some(other) => {
                return Err(ARG(format!(
                    "options.bucket must be \"hour\" or \"day\", got {}",
                    describe(other)
                )))
            }
            None => {
                return Err(ARG(
                    "options.bucket is required (\"hour\" or \"day\")".into()
                ))
            }
        };
        let start = opt_timestamp(&f, "start", "options")?
            .ok_or_else(|| ARG("options.start is required".into()))?;
        let end = opt_timestamp(&f, "end", "options")?
            .ok_or_else(|| ARG("options.end is required".into()))?;
        Ok(SeriesOptions { bucket, start, end })
    }
}

/// Which versions [`crate::SnapshotStore::prune`] deletes. A version is deleted when it is
/// outside the `keep_last` newest versions **and** older than `older_than` (each condition
/// applies only when given), unless it is a kept checkpoint. The latest version is never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrunePolicy {
    /// Keep this many of the newest versions.
    pub keep_last: Option<u64>,
    /// Delete only versions created strictly before this instant.
    pub older_than: Option<Timestamp>,
    /// Never delete checkpoints (default `false`).
    pub keep_checkpoints: bool,
}

impl PrunePolicy {
    /// Parses `{ keepLast?: number; olderThan?: TimestampInput; keepCheckpoints?: boolean }`;
    /// at least one of `keepLast` and `olderThan` is required.
    pub fn from_json(value: Option<&Value>) -> Result<Self> {
        let value = value.unwrap_or(&Value::Null);
        let f = Fields::new(
            value,
            "policy",
            &["keepLast", "olderThan", "keepCheckpoints"],
            ARG,
        )?;
        let policy = PrunePolicy {
            keep_last: f.opt_int("keepLast", 0)?,
            older_than: opt_timestamp(&f, "olderThan", "policy")?,
            keep_checkpoints: f.opt_bool("keepCheckpoints")?.unwrap_or(false),
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Requires `keep_last` or `older_than`.
    pub fn validate(&self) -> Result<()> {
        if self.keep_last.is_none() && self.older_than.is_none() {
            return Err(ARG(
                "policy needs keepLast or olderThan (or both); an empty policy would delete everything but the latest".into(),
            ));
        }
        if self.keep_last.is_some_and(|k| k > MAX_SAFE_INTEGER) {
            return Err(ARG(format!(
                "policy.keepLast must be at most {MAX_SAFE_INTEGER}"
            )));
        }
        Ok(())
    }

    /// The versions to delete, given the task's versions ascending as
    /// `(version, checkpoint, created_at)`.
    pub fn select(&self, versions: &[(u64, bool, Timestamp)]) -> Vec<u64> {
        let count = versions.len();
        let keep = self
            .keep_last
            .map_or(0, |k| usize::try_from(k).unwrap_or(usize::MAX))
            .max(1); // the latest is never pruned
        let candidates = count.saturating_sub(keep);
        versions
            .iter()
            .take(candidates)
            .filter(|(_, checkpoint, created)| {
                !(self.keep_checkpoints && *checkpoint)
                    && self.older_than.is_none_or(|limit| *created < limit)
            })
            .map(|(v, _, _)| *v)
            .collect()
    }
}

/// The format of [`crate::MeteringStore::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A JSON array of usage events.
    Json,
    /// CSV with the header `id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp`.
    Csv,
}

impl ExportFormat {
    /// Parses `"json"` or `"csv"`.
    pub fn from_json(value: &Value) -> Result<Self> {
        match value {
            Value::String(s) if s == "json" => Ok(ExportFormat::Json),
            Value::String(s) if s == "csv" => Ok(ExportFormat::Csv),
            other => Err(ARG(format!(
                "format must be \"json\" or \"csv\", got {}",
                describe(other)
            ))),
        }
    }
}

/// Which events [`crate::MeteringStore::export`] writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportFilter {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// The time window (inclusive).
    pub window: Window,
}

impl ExportFilter {
    /// Parses `{ agentId?: string; start?: TimestampInput; end?: TimestampInput }`.
    pub fn from_json(value: Option<&Value>) -> Result<Self> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(ExportFilter::default());
        };
        let f = Fields::new(value, "filter", &["agentId", "start", "end"], ARG)?;
        Ok(ExportFilter {
            agent_id: f.opt_id("agentId")?,
            window: Window {
                start: opt_timestamp(&f, "start", "filter")?,
                end: opt_timestamp(&f, "end", "filter")?,
            },
        })
    }
}

/// Reads a string argument such as `taskId` (any string, including empty, is accepted: an
/// empty id simply matches nothing).
pub fn string_arg(value: &Value, name: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(ARG(format!(
            "{name} must be a string, got {}",
            describe(other)
        ))),
    }
}

/// Reads an optional version argument: `undefined`/`null` = none, else an integer `>= 1`.
pub fn version_arg(value: Option<&Value>, name: &str) -> Result<Option<u64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_value(v, name, 1, ARG).map(Some),
    }
}
