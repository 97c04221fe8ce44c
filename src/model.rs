//! The data of the ASAP state layer: snapshots, usage events and what stores derive from them.
//!
//! Field names are the ASAP wire names (snake_case), and serialising a model gives exactly the
//! JSON the JavaScript API returns.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Result, StateError};
use crate::json::{
    self, check_depth, check_id, json_len, Fields, MAX_DATA_BYTES, MAX_SAFE_INTEGER,
};
use crate::timestamp::Timestamp;

/// One saved version of a task's state (`asap.models.entities.StateSnapshot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateSnapshot {
    /// The snapshot's id (`"snap_" + ULID` when the caller gave none).
    pub id: String,
    /// The task this state belongs to.
    pub task_id: String,
    /// The version, `>= 1`; unique per task.
    pub version: u64,
    /// The state itself, a JSON object.
    pub data: Map<String, Value>,
    /// Whether this version is a significant checkpoint.
    pub checkpoint: bool,
    /// When the snapshot was created.
    pub created_at: Timestamp,
}

impl StateSnapshot {
    /// The JSON text `serde_json::to_string` writes for a snapshot with these fields, from the
    /// JSON text of its `data` (which is embedded as it is: it must be a JSON object).
    pub(crate) fn json_text(
        id: &str,
        task_id: &str,
        version: u64,
        data_text: &str,
        checkpoint: bool,
        created_at: Timestamp,
    ) -> String {
        Self::json_text_by(id, task_id, version, data_text, checkpoint, |out| {
            created_at.push_iso(out);
        })
    }

    /// [`StateSnapshot::json_text`] with `created_at`'s text (without quotes) written by
    /// `created_at`: a reader that holds it in this library's form already copies it.
    pub(crate) fn json_text_by(
        id: &str,
        task_id: &str,
        version: u64,
        data_text: &str,
        checkpoint: bool,
        created_at: impl FnOnce(&mut String),
    ) -> String {
        let mut out = String::with_capacity(data_text.len().saturating_add(160));
        out.push_str("{\"id\":");
        crate::json::push_json_string(&mut out, id);
        out.push_str(",\"task_id\":");
        crate::json::push_json_string(&mut out, task_id);
        out.push_str(",\"version\":");
        crate::json::push_u64(&mut out, version);
        out.push_str(",\"data\":");
        out.push_str(data_text);
        out.push_str(if checkpoint {
            ",\"checkpoint\":true,\"created_at\":\""
        } else {
            ",\"checkpoint\":false,\"created_at\":\""
        });
        // A timestamp's text needs no escaping.
        created_at(&mut out);
        out.push_str("\"}");
        out
    }

    /// Reads a snapshot as the stores return it, e.g. one a JavaScript caller passes back to
    /// [`crate::diff_snapshots`]: an object with exactly the six fields, every one required.
    /// `what` names the argument in messages (`"from"` gives `from.data is required`).
    ///
    /// Errors: `INVALID_ARGUMENT` for a non-object, an unknown or missing field, or a field of
    /// the wrong type or range (ids non-empty and at most [`crate::MAX_ID_BYTES`] bytes,
    /// `version` an integer from 1 to 2^53 - 1, `data` an object, `checkpoint` a boolean);
    /// `INVALID_TIMESTAMP` for a malformed `created_at` (a string with an offset or epoch
    /// milliseconds); `TOO_LARGE` for `data` nested deeper than [`crate::MAX_DEPTH`].
    pub fn from_json(value: &Value, what: &str) -> Result<Self> {
        let err = StateError::InvalidArgument;
        let f = Fields::new(value, what, &SNAPSHOT_FIELDS, err)?;
        let required = |key: &str| err(format!("{what}.{key} is required"));
        let id = f.id("id")?;
        let task_id = f.id("task_id")?;
        let version = f
            .opt_int("version", 1)?
            .ok_or_else(|| required("version"))?;
        let data = match f.get("data") {
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(err(format!(
                    "{what}.data must be a plain object, got {}",
                    json::describe(other)
                )))
            }
            None => return Err(required("data")),
        };
        let checkpoint = f
            .opt_bool("checkpoint")?
            .ok_or_else(|| required("checkpoint"))?;
        let created_at = match f.get("created_at") {
            Some(v) => Timestamp::from_json(v, &format!("{what}.created_at"))?,
            None => return Err(required("created_at")),
        };
        for (key, value) in &data {
            check_depth(value, &format!("{what}.data.{key}"))?;
        }
        Ok(StateSnapshot {
            id,
            task_id,
            version,
            data,
            checkpoint,
            created_at,
        })
    }
}

/// What a caller gives to [`crate::SnapshotStore::save`]; the store fills in the defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSnapshotInput {
    /// Default: `"snap_" + a new ULID`.
    pub id: Option<String>,
    /// Required, non-empty.
    pub task_id: String,
    /// `1..=2^53-1`; default: the task's latest version + 1 (1 for a new task).
    pub version: Option<u64>,
    /// The state.
    pub data: Map<String, Value>,
    /// Default `false`.
    pub checkpoint: bool,
    /// Default: now.
    pub created_at: Option<Timestamp>,
}

const SNAPSHOT_FIELDS: [&str; 6] = [
    "id",
    "task_id",
    "version",
    "data",
    "checkpoint",
    "created_at",
];

impl StateSnapshotInput {
    /// An input for `task_id` with `data`, every other field defaulted.
    pub fn new(task_id: impl Into<String>, data: Map<String, Value>) -> Self {
        StateSnapshotInput {
            task_id: task_id.into(),
            data,
            ..Default::default()
        }
    }

    /// Sets the version.
    pub fn version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Marks this snapshot as a checkpoint.
    pub fn checkpoint(mut self, checkpoint: bool) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// Sets the creation time.
    pub fn created_at(mut self, at: Timestamp) -> Self {
        self.created_at = Some(at);
        self
    }

    /// Parses a JSON input object (the shape the JavaScript API takes): unknown fields,
    /// wrong types, non-integer or out-of-range versions, and non-object `data` are rejected
    /// with `INVALID_SNAPSHOT`; bad `created_at` with `INVALID_TIMESTAMP`.
    pub fn from_json(value: &Value) -> Result<Self> {
        let f = Fields::new(
            value,
            "snapshot",
            &SNAPSHOT_FIELDS,
            StateError::InvalidSnapshot,
        )?;
        let task_id = f.id("task_id")?;
        let id = f.opt_id("id")?;
        let version = f.opt_int("version", 1)?;
        let data = match f.get("data") {
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(StateError::InvalidSnapshot(format!(
                    "snapshot.data must be a plain object, got {}",
                    json::describe(other)
                )))
            }
            None => {
                return Err(StateError::InvalidSnapshot(
                    "snapshot.data is required".to_owned(),
                ))
            }
        };
        let checkpoint = f.opt_bool("checkpoint")?.unwrap_or(false);
        let created_at = f
            .get("created_at")
            .map(|v| Timestamp::from_json(v, "snapshot.created_at"))
            .transpose()?;
        let input = StateSnapshotInput {
            id,
            task_id,
            version,
            data,
            checkpoint,
            created_at,
        };
        input.validate()?;
        Ok(input)
    }

    /// Checks what the types cannot: non-empty ids, the version range, `data` depth and size.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        let len = json_len(&self.data);
        if len > MAX_DATA_BYTES {
            return Err(StateError::TooLarge(format!(
                "snapshot.data is {len} bytes as JSON; the limit is {MAX_DATA_BYTES}"
            )));
        }
        Ok(())
    }

    /// [`validate`](Self::validate), returning the JSON text of `data` (serialized once: its
    /// length is the size check, and the stores keep it).
    pub fn validate_to_text(&self) -> Result<String> {
        self.validate_fields()?;
        let text = serde_json::to_string(&self.data).map_err(|e| {
            StateError::InvalidSnapshot(format!("snapshot.data cannot be written as JSON: {e}"))
        })?;
        if text.len() > MAX_DATA_BYTES {
            return Err(StateError::TooLarge(format!(
                "snapshot.data is {} bytes as JSON; the limit is {MAX_DATA_BYTES}",
                text.len()
            )));
        }
        Ok(text)
    }

    /// Everything [`validate`](Self::validate) checks but `data`'s size.
    pub(crate) fn validate_fields(&self) -> Result<()> {
        let err = StateError::InvalidSnapshot;
        check_id(&self.task_id, "snapshot.task_id", err)?;
        if let Some(id) = &self.id {
            check_id(id, "snapshot.id", err)?;
        }
        if let Some(v) = self.version {
            if !(1..=MAX_SAFE_INTEGER).contains(&v) {
                return Err(err(format!(
                    "snapshot.version must be an integer from 1 to {MAX_SAFE_INTEGER}, got {v}"
                )));
            }
        }
        for (key, value) in &self.data {
            check_depth(value, &format!("snapshot.data.{key}"))?;
        }
        Ok(())
    }
}

/// The JSON text of a snapshot's `data`, checked as [`StateSnapshotInput::validate`] checks
/// `data` (an object, nesting, size) and written in serde_json's compact form — the text a
/// store keeps — without building a tree. The JavaScript binding hands plain data across as
/// text and saves it with [`crate::SnapshotStore::save_data_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataText(String);

impl DataText {
    /// Checks and rewrites JSON text of `data`. Errors: `INVALID_SNAPSHOT` for text that is not
    /// one JSON object; `TOO_LARGE` for nesting past [`crate::MAX_DEPTH`] below a key or more
    /// than [`MAX_DATA_BYTES`] bytes (as written here).
    pub fn parse(text: &str) -> Result<DataText> {
        let compact = Self::compact(text, true)?.into_owned();
        if compact.len() > MAX_DATA_BYTES {
            return Err(StateError::TooLarge(format!(
                "snapshot.data is {} bytes as JSON; the limit is {MAX_DATA_BYTES}",
                compact.len()
            )));
        }
        Ok(DataText(compact))
    }

    /// `data` text read back from storage, rewritten as [`parse`](Self::parse) does but
    /// accepting what a store reads back (what `StateSnapshot`s hold): no size limit, and the
    /// nesting rule of reading (at most [`crate::MAX_DEPTH`] + 1 levels in all). Text already
    /// in that form (what this library writes) is checked and handed back as it is.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn read(text: &str) -> Result<Cow<'_, str>> {
        Self::compact(text, false)
    }

    fn compact(text: &str, saving: bool) -> Result<Cow<'_, str>> {
        let invalid = |e: String| StateError::InvalidSnapshot(format!("snapshot.data: {e}"));
        // A quick pass, else streamed from parser to writer, under serde_json's nesting limit
        // (127 levels), which is within ours (`compact.rs`); text both refuse for any reason
        // (deeper nesting, bad syntax) takes the exact path below, which gives the definitive
        // answer.
        if let Some(out) = crate::compact::compact(text) {
            return Ok(out);
        }
        if saving && json::json_nesting(text) > json::MAX_DEPTH.saturating_add(1) {
            return Err(StateError::TooLarge(format!(
                "snapshot.data nests deeper than {} levels",
                json::MAX_DEPTH
            )));
        }
        let data = match json::data_from_text(text) {
            Ok(data) => data,
            Err(e) => {
                return Err(match serde_json::from_str::<Value>(text) {
                    Ok(value) if !value.is_object() => StateError::InvalidSnapshot(format!(
                        "snapshot.data must be a plain object, got {}",
                        json::describe(&value)
                    )),
                    _ => invalid(e),
                })
            }
        };
        if saving {
            for (key, value) in &data {
                check_depth(value, &format!("snapshot.data.{key}"))?;
            }
        }
        serde_json::to_string(&data)
            .map(Cow::Owned)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Text that is already what serde_json writes for a `data` object — compact, nesting
    /// within the limits — as the JavaScript binding writes plain data (`wasm/js/json-text.js`,
    /// byte for byte serde_json's form, tested). Only the size and that it is an object are
    /// checked here: it is kept as it is, without a parse. Anything else must go through
    /// [`parse`](Self::parse): a store handed text that is not JSON would keep it.
    pub fn from_canonical(text: String) -> Result<DataText> {
        if !text.starts_with('{') {
            return Err(StateError::InvalidSnapshot(
                "snapshot.data must be a plain object".into(),
            ));
        }
        if text.len() > MAX_DATA_BYTES {
            return Err(StateError::TooLarge(format!(
                "snapshot.data is {} bytes as JSON; the limit is {MAX_DATA_BYTES}",
                text.len()
            )));
        }
        Ok(DataText(text))
    }

    /// The checked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The data as values.
    pub fn to_data(&self) -> Result<Map<String, Value>> {
        json::data_from_text(&self.0)
            .map_err(|e| StateError::InvalidSnapshot(format!("snapshot.data: {e}")))
    }
}

/// Resource usage of one piece of work. All values are integers `>= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct UsageMetrics {
    /// Input tokens.
    pub tokens_in: u64,
    /// Output tokens.
    pub tokens_out: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Outbound API calls.
    pub api_calls: u64,
}

const METRIC_FIELDS: [&str; 4] = ["tokens_in", "tokens_out", "duration_ms", "api_calls"];

impl UsageEvent {
    /// Appends the event's JSON text, byte for byte what serde_json writes for it (without its
    /// formatter machinery, which was half the time of a query's answer in the wasm).
    pub fn push_json(&self, out: &mut String) {
        push_event_json(
            out,
            [&self.id, &self.task_id, &self.agent_id, &self.consumer_id],
            &self.metrics,
            self.timestamp,
        );
    }

    /// The event's JSON text (see [`UsageEvent::push_json`]).
    pub fn json_text(&self) -> String {
        let mut out = String::with_capacity(256);
        self.push_json(&mut out);
        out
    }

    /// The JSON text of `events` as an array (what serde_json writes for the list).
    pub fn list_json(events: &[UsageEvent]) -> String {
        let mut out = String::with_capacity(events.len().saturating_mul(200).saturating_add(2));
        out.push('[');
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            event.push_json(&mut out);
        }
        out.push(']');
        out
    }
}

/// Appends an event's JSON text from its fields (`ids`: `id`, `task_id`, `agent_id`,
/// `consumer_id`), byte for byte what serde_json writes for the [`UsageEvent`].
pub(crate) fn push_event_json(
    out: &mut String,
    ids: [&str; 4],
    m: &UsageMetrics,
    timestamp: Timestamp,
) {
    push_event_json_by(
        out,
        ids,
        |out| m.push_json(out),
        |out| timestamp.push_iso(out),
    );
}

/// [`push_event_json`] with the metrics' JSON text and the timestamp's text (without quotes)
/// written by `metrics` and `timestamp`: a reader that holds those texts already in this
/// library's form copies them.
pub(crate) fn push_event_json_by(
    out: &mut String,
    ids: [&str; 4],
    metrics: impl FnOnce(&mut String),
    timestamp: impl FnOnce(&mut String),
) {
    let [id, task_id, agent_id, consumer_id] = ids;
    out.push_str("{\"id\":");
    crate::json::push_json_string(out, id);
    out.push_str(",\"task_id\":");
    crate::json::push_json_string(out, task_id);
    out.push_str(",\"agent_id\":");
    crate::json::push_json_string(out, agent_id);
    out.push_str(",\"consumer_id\":");
    crate::json::push_json_string(out, consumer_id);
    out.push_str(",\"metrics\":");
    metrics(out);
    out.push_str(",\"timestamp\":\"");
    timestamp(out);
    out.push_str("\"}");
}

impl UsageMetrics {
    /// Appends the metrics' JSON text, byte for byte what serde_json writes for them.
    pub fn push_json(&self, out: &mut String) {
        out.push_str("{\"tokens_in\":");
        crate::json::push_u64(out, self.tokens_in);
        out.push_str(",\"tokens_out\":");
        crate::json::push_u64(out, self.tokens_out);
        out.push_str(",\"duration_ms\":");
        crate::json::push_u64(out, self.duration_ms);
        out.push_str(",\"api_calls\":");
        crate::json::push_u64(out, self.api_calls);
        out.push('}');
    }

    /// The metrics' JSON text (see [`UsageMetrics::push_json`]).
    pub fn json_text(&self) -> String {
        let mut out = String::with_capacity(96);
        self.push_json(&mut out);
        out
    }

    /// Parses a JSON metrics object; missing fields are 0.
    pub fn from_json(value: &Value) -> Result<Self> {
        let f = Fields::new(
            value,
            "event.metrics",
            &METRIC_FIELDS,
            StateError::InvalidEvent,
        )?;
        Ok(UsageMetrics {
            tokens_in: f.opt_int("tokens_in", 0)?.unwrap_or(0),
            tokens_out: f.opt_int("tokens_out", 0)?.unwrap_or(0),
            duration_ms: f.opt_int("duration_ms", 0)?.unwrap_or(0),
            api_calls: f.opt_int("api_calls", 0)?.unwrap_or(0),
        })
    }

    fn validate(&self) -> Result<()> {
        let fields = [
            ("tokens_in", self.tokens_in),
            ("tokens_out", self.tokens_out),
            ("duration_ms", self.duration_ms),
            ("api_calls", self.api_calls),
        ];
        for (name, v) in fields {
            if v > MAX_SAFE_INTEGER {
                return Err(StateError::InvalidEvent(format!(
                    "event.metrics.{name} must be an integer from 0 to {MAX_SAFE_INTEGER}, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// One metered piece of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageEvent {
    /// The event's id (`"evt_" + ULID` when the caller gave none); recording the same id twice
    /// stores it once.
    pub id: String,
    /// The task the work belonged to.
    pub task_id: String,
    /// The agent that did the work.
    pub agent_id: String,
    /// Who the work was done for.
    pub consumer_id: String,
    /// What it used.
    pub metrics: UsageMetrics,
    /// When it happened.
    pub timestamp: Timestamp,
}

/// What a caller gives to [`crate::MeteringStore::record`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageEventInput {
    /// Default: `"evt_" + a new ULID`.
    pub id: Option<String>,
    /// Required, non-empty.
    pub task_id: String,
    /// Required, non-empty.
    pub agent_id: String,
    /// Required, non-empty.
    pub consumer_id: String,
    /// Default: all zeros.
    pub metrics: UsageMetrics,
    /// Default: now.
    pub timestamp: Option<Timestamp>,
}

const EVENT_FIELDS: [&str; 6] = [
    "id",
    "task_id",
    "agent_id",
    "consumer_id",
    "metrics",
    "timestamp",
];

impl UsageEventInput {
    /// An event input with zero metrics, recorded now.
    pub fn new(
        task_id: impl Into<String>,
        agent_id: impl Into<String>,
        consumer_id: impl Into<String>,
    ) -> Self {
        UsageEventInput {
            task_id: task_id.into(),
            agent_id: agent_id.into(),
            consumer_id: consumer_id.into(),
            ..Default::default()
        }
    }

    /// Sets the metrics.
    pub fn metrics(mut self, metrics: UsageMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sets the time.
    pub fn timestamp(mut self, at: Timestamp) -> Self {
        self.timestamp = Some(at);
        self
    }

    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Parses a JSON input object (`INVALID_EVENT`, or `INVALID_TIMESTAMP` for the timestamp).
    pub fn from_json(value: &Value) -> Result<Self> {
        let f = Fields::new(value, "event", &EVENT_FIELDS, StateError::InvalidEvent)?;
        let input = UsageEventInput {
            task_id: f.id("task_id")?,
            agent_id: f.id("agent_id")?,
            consumer_id: f.id("consumer_id")?,
            id: f.opt_id("id")?,
            metrics: f
                .get("metrics")
                .map(UsageMetrics::from_json)
                .transpose()?
                .unwrap_or_default(),
            timestamp: f
                .get("timestamp")
                .map(|v| Timestamp::from_json(v, "event.timestamp"))
                .transpose()?,
        };
        input.validate()?;
        Ok(input)
    }

    /// Checks what the types cannot: non-empty ids and metric ranges.
    pub fn validate(&self) -> Result<()> {
        let err = StateError::InvalidEvent;
        check_id(&self.task_id, "event.task_id", err)?;
        check_id(&self.agent_id, "event.agent_id", err)?;
        check_id(&self.consumer_id, "event.consumer_id", err)?;
        if let Some(id) = &self.id {
            check_id(id, "event.id", err)?;
        }
        self.metrics.validate()
    }
}

/// Totals of an agent's usage (`asap.state.metering.UsageAggregate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageAggregate {
    /// The agent.
    pub agent_id: String,
    /// The label the caller passed, echoed back.
    pub period: String,
    /// `Σ(tokens_in + tokens_out)`.
    pub total_tokens: u64,
    /// `Σ duration_ms`.
    pub total_duration: u64,
    /// The number of events (as the reference counts).
    pub total_tasks: u64,
    /// `Σ api_calls`.
    pub total_api_calls: u64,
}

/// One task as [`crate::SnapshotStore::list_tasks`] sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSummary {
    /// The task.
    pub task_id: String,
    /// How many versions are stored.
    pub versions: u64,
    /// The highest version.
    pub latest_version: u64,
    /// `created_at` of the highest version.
    pub latest_created_at: Timestamp,
    /// How many stored versions are checkpoints.
    pub checkpoints: u64,
}

/// Totals of one UTC hour or day, from [`crate::MeteringStore::series`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageBucket {
    /// The start of the hour or day.
    pub start: Timestamp,
    /// `Σ(tokens_in + tokens_out)`.
    pub total_tokens: u64,
    /// `Σ duration_ms`.
    pub total_duration: u64,
    /// The number of events.
    pub total_tasks: u64,
    /// `Σ api_calls`.
    pub total_api_calls: u64,
}

/// Running totals shared by aggregates and buckets. Sums saturate instead of overflowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// `Σ(tokens_in + tokens_out)`.
    pub tokens: u64,
    /// `Σ duration_ms`.
    pub duration: u64,
    /// Number of events.
    pub events: u64,
    /// `Σ api_calls`.
    pub api_calls: u64,
}

impl Totals {
    /// Adds one event's metrics.
    pub fn add(&mut self, m: &UsageMetrics) {
        self.tokens = self
            .tokens
            .saturating_add(m.tokens_in.saturating_add(m.tokens_out));
        self.duration = self.duration.saturating_add(m.duration_ms);
        self.events = self.events.saturating_add(1);
        self.api_calls = self.api_calls.saturating_add(m.api_calls);
    }

    /// As an aggregate for `agent_id` labelled `period`.
    pub fn aggregate(self, agent_id: &str, period: &str) -> UsageAggregate {
        UsageAggregate {
            agent_id: agent_id.to_owned(),
            period: period.to_owned(),
            total_tokens: self.tokens,
            total_duration: self.duration,
            total_tasks: self.events,
            total_api_calls: self.api_calls,
        }
    }

    /// As the bucket starting at `start`.
    pub fn bucket(self, start: Timestamp) -> UsageBucket {
        UsageBucket {
            start,
            total_tokens: self.tokens,
            total_duration: self.duration,
            total_tasks: self.events,
            total_api_calls: self.api_calls,
        }
    }
}

/// Buckets events (ascending by time) into UTC hours or days, keeping only buckets that hold
/// events.
pub(crate) fn buckets<'a>(
    events: impl IntoIterator<Item = (Timestamp, &'a UsageMetrics)>,
    size: crate::BucketSize,
) -> Vec<UsageBucket> {
    let mut out: Vec<(Timestamp, Totals)> = Vec::new();
    for (at, metrics) in events {
        let start = at.floor(size);
        match out.last_mut() {
            Some((s, totals)) if *s == start => totals.add(metrics),
            _ => {
                let mut totals = Totals::default();
                totals.add(metrics);
                out.push((start, totals));
            }
        }
    }
    out.into_iter().map(|(s, t)| t.bucket(s)).collect()
}
