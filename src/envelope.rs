//! ASAP state messages: answering `state_query`, `state_restore` and `state_save` envelopes
//! from a [`SnapshotStore`], directly or inside a JSON-RPC 2.0 `asap.send` request.
//!
//! An envelope is the ASAP wire form (a JSON object) of the Python reference's
//! `asap.models.envelope.Envelope`, read strictly: unknown fields are rejected (the reference's
//! `extra="forbid"`), every field has its type, and `sender` / `recipient` must be agent URNs.
//! Nothing here throws or panics on input: a malformed request gets a JSON-RPC error object
//! ([`RpcError`]) whose `data.error` names the offending field.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::StateError;
use crate::json::{describe, int_value, Fields};
use crate::model::{StateSnapshot, StateSnapshotInput};
use crate::options::SaveOptions;
use crate::runtime::Runtime;
use crate::store::SnapshotStore;
use crate::timestamp::Timestamp;

/// JSON-RPC 2.0 "Parse error": the body is not JSON text.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0 "Invalid request": not a JSON-RPC 2.0 request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC 2.0 "Method not found": a method other than `asap.send`, or an unhandled
/// `payload_type`.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC 2.0 "Invalid params": a malformed envelope or payload.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC 2.0 "Internal error": the store failed (`CLOSED`, `STORAGE_IO`, ...).
pub const INTERNAL_ERROR: i64 = -32603;

/// The JSON-RPC method that carries an envelope, as in the reference's server.
pub const ASAP_METHOD: &str = "asap.send";

/// The longest agent URN accepted, in characters (the reference's `MAX_URN_LENGTH`).
pub const MAX_URN_LENGTH: usize = 256;

/// The fields of an envelope, in the reference's order.
pub const ENVELOPE_FIELDS: [&str; 11] = [
    "id",
    "asap_version",
    "timestamp",
    "sender",
    "recipient",
    "payload_type",
    "payload",
    "correlation_id",
    "trace_id",
    "requires_ack",
    "extensions",
];

/// The `payload_type`s answered, in the order messages list them.
pub const STATE_PAYLOAD_TYPES: [&str; 3] = ["state_query", "state_restore", "state_save"];

/// A JSON-RPC 2.0 error object: `{code, message, data: {error, code}}`, where `data.error` is a
/// human message naming the offending field and `data.code` a [`StateError`] code
/// (`INVALID_ARGUMENT`, `INVALID_SNAPSHOT`, `CLOSED`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// The JSON-RPC code, e.g. [`INVALID_PARAMS`].
    pub code: i64,
    /// The JSON-RPC message of the code, e.g. `"Invalid params"`.
    pub message: String,
    /// `{"error": <message naming the field>, "code": <StateError code>}`.
    pub data: Value,
}

impl RpcError {
    /// An error with `code`, its standard message, and `data = {error, code: state_code}`.
    pub fn new(code: i64, error: impl Into<String>, state_code: &str) -> Self {
        let message = match code {
            PARSE_ERROR => "Parse error",
            INVALID_REQUEST => "Invalid request",
            METHOD_NOT_FOUND => "Method not found",
            INVALID_PARAMS => "Invalid params",
            _ => "Internal error",
        };
        RpcError {
            code,
            message: message.to_owned(),
            data: json_object([
                ("error", Value::String(error.into())),
                ("code", Value::String(state_code.to_owned())),
            ]),
        }
    }

    /// -32602 for a malformed argument.
    pub fn invalid_params(error: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, error, "INVALID_ARGUMENT")
    }

    /// The JSON-RPC error for a [`StateError`]: -32602 for invalid input (`INVALID_*`,
    /// `TOO_LARGE`), -32603 for a failure of the store. `prefix` is put before the message
    /// (e.g. `"envelope.payload."` before `snapshot.task_id is required`).
    pub fn from_state(err: &StateError, prefix: &str) -> Self {
        let code = match err {
            StateError::InvalidSnapshot(_)
            | StateError::InvalidEvent(_)
            | StateError::InvalidTimestamp(_)
            | StateError::InvalidArgument(_)
            | StateError::TooLarge(_) => INVALID_PARAMS,
            _ => INTERNAL_ERROR,
        };
        RpcError::new(code, format!("{prefix}{}", err.message()), err.code())
    }

    /// As a JSON value, `{code, message, data}`.
    pub fn to_json(&self) -> Value {
        json_object([
            ("code", Value::from(self.code)),
            ("message", Value::String(self.message.clone())),
            ("data", self.data.clone()),
        ])
    }

    /// The JSON-RPC 2.0 response carrying this error: `{jsonrpc: "2.0", id, error}`.
    pub fn response(&self, id: Value) -> Value {
        json_object([
            ("jsonrpc", Value::from("2.0")),
            ("id", id),
            ("error", self.to_json()),
        ])
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detail = self.data.get("error").and_then(Value::as_str).unwrap_or("");
        write!(f, "{} ({}): {detail}", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

const ARG: fn(String) -> StateError = StateError::InvalidArgument;
const NOT_FOUND: &str = "snapshot not found";

/// A JSON object with these fields in this order. (The replies are built with it rather than
/// with `json!`, which goes through serde's value serializer: code the memory wasm would carry.)
///
/// ```
/// use asap_state::binding::json_object;
/// use serde_json::{json, Value};
/// let v = json_object([("ok", Value::Bool(true)), ("version", Value::from(2u64))]);
/// assert_eq!(v, json!({"ok": true, "version": 2}));
/// assert_eq!(v.to_string(), r#"{"ok":true,"version":2}"#);
/// ```
pub fn json_object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A snapshot as the stores return it in JSON (the fields of [`StateSnapshot`]'s `Serialize`).
fn snapshot_json(s: StateSnapshot) -> Value {
    json_object([
        ("id", Value::String(s.id)),
        ("task_id", Value::String(s.task_id)),
        ("version", Value::from(s.version)),
        ("data", Value::Object(s.data)),
        ("checkpoint", Value::Bool(s.checkpoint)),
        ("created_at", Value::String(s.created_at.to_string())),
    ])
}

/// `{ok: true, task_id, snapshot_id, version}` for a found or saved snapshot.
fn ack(s: StateSnapshot) -> Value {
    json_object([
        ("ok", Value::Bool(true)),
        ("task_id", Value::String(s.task_id)),
        ("snapshot_id", Value::String(s.id)),
        ("version", Value::from(s.version)),
    ])
}

/// Checks an agent URN: `^urn:asap:agent:[a-z0-9-]+(?::[a-z0-9-]+)?$`, at most
/// [`MAX_URN_LENGTH`] characters. `name` names the field in the message.
///
/// ```
/// use asap_state::check_agent_urn;
/// assert!(check_agent_urn("urn:asap:agent:primary", "sender").is_ok());
/// assert!(check_agent_urn("urn:asap:agent:team-1:worker-2", "sender").is_ok());
/// let err = check_agent_urn("agent:primary", "envelope.sender").unwrap_err();
/// assert!(err.message().starts_with("envelope.sender must follow 'urn:asap:agent:{name}'"));
/// ```
pub fn check_agent_urn(urn: &str, name: &str) -> crate::Result<()> {
    let chars = urn.chars().count();
    if chars > MAX_URN_LENGTH {
        return Err(ARG(format!(
            "{name} must be at most {MAX_URN_LENGTH} characters, got {chars}"
        )));
    }
    let segment = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let ok = urn.strip_prefix("urn:asap:agent:").is_some_and(|rest| {
        let mut parts = rest.split(':');
        let first = parts.next().is_some_and(segment);
        let second = parts.next().is_none_or(segment);
        first && second && parts.next().is_none()
    });
    if ok {
        Ok(())
    } else {
        let shown: String = urn.chars().take(80).collect();
        Err(ARG(format!(
            "{name} must follow 'urn:asap:agent:{{name}}' (lowercase letters, digits and '-', \
             optionally ':{{sub-name}}'), got {shown:?}"
        )))
    }
}

/// An envelope as read by [`parse_envelope`]: the fields a reply needs, `payload` untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `id`, when the request had one.
    pub id: Option<String>,
    /// `asap_version`, copied into the reply.
    pub asap_version: String,
    /// `timestamp`, when given.
    pub timestamp: Option<Timestamp>,
    /// The sender's agent URN.
    pub sender: String,
    /// The recipient's agent URN.
    pub recipient: String,
    /// The payload's type, e.g. `"state_query"`.
    pub payload_type: String,
    /// The payload, a JSON object.
    pub payload: Map<String, Value>,
    /// `correlation_id`, when given and not null.
    pub correlation_id: Option<String>,
    /// `trace_id`, when given and not null.
    pub trace_id: Option<String>,
    /// `requires_ack` (default `false`).
    pub requires_ack: bool,
    /// `extensions`, when given and not null.
    pub extensions: Option<Map<String, Value>>,
}

fn string_field(f: &Fields<'_>, key: &str, required: bool) -> crate::Result<Option<String>> {
    match f.get(key) {
        None if required => Err(ARG(format!("envelope.{key} is required"))),
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) if !required => Ok(None),
        Some(other) => Err(ARG(format!(
            "envelope.{key} must be a string{}, got {}",
            if required { "" } else { " or null" },
            describe(other)
        ))),
    }
}

/// Reads an envelope strictly. Required: `asap_version` (string), `sender` and `recipient`
/// (agent URNs, see [`check_agent_urn`]), `payload_type` (string), `payload` (object).
/// Optional: `id` (string or null), `timestamp` (ISO 8601 string with an offset, or null),
/// `correlation_id` / `trace_id` (string or null), `requires_ack` (boolean), `extensions`
/// (object or null). Any other field is rejected.
///
/// Errors: `INVALID_ARGUMENT` naming the field (`envelope.payload is required`,
/// `envelope.sender must follow 'urn:asap:agent:{name}' ...`), or `INVALID_TIMESTAMP` for a
/// malformed `timestamp`.
pub fn parse_envelope(value: &Value) -> crate::Result<Envelope> {
    let f = Fields::new(value, "envelope", &ENVELOPE_FIELDS, ARG)?;
    let required = |key: &str| -> crate::Result<String> {
        string_field(&f, key, true)?.ok_or_else(|| ARG(format!("envelope.{key} is required")))
    };
    let asap_version = required("asap_version")?;
    let sender = required("sender")?;
    check_agent_urn(&sender, "envelope.sender")?;
    let recipient = required("recipient")?;
    check_agent_urn(&recipient, "envelope.recipient")?;
    let payload_type = required("payload_type")?;
    let payload = match f.get("payload") {
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(ARG(format!(
                "envelope.payload must be an object, got {}",
                describe(other)
            )))
        }
        None => return Err(ARG("envelope.payload is required".into())),
    };
    let id = string_field(&f, "id", false)?;
    let timestamp = match f.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Timestamp::parse(s, "envelope.timestamp")?),
        Some(other) => {
            return Err(StateError::InvalidTimestamp(format!(
                "envelope.timestamp must be an ISO 8601 string with an offset, got {}",
                describe(other)
            )))
        }
    };
    let correlation_id = string_field(&f, "correlation_id", false)?;
    let trace_id = string_field(&f, "trace_id", false)?;
    let requires_ack = f.opt_bool("requires_ack")?.unwrap_or(false);
    let extensions = match f.get("extensions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(other) => {
            return Err(ARG(format!(
                "envelope.extensions must be an object or null, got {}",
                describe(other)
            )))
        }
    };
    Ok(Envelope {
        id,
        asap_version,
        timestamp,
        sender,
        recipient,
        payload_type,
        payload,
        correlation_id,
        trace_id,
        requires_ack,
        extensions,
    })
}

/// The payload of `state_query`: `{task_id: string, version?: int | null}` (null = latest).
fn query(store: &dyn SnapshotStore, payload: &Value) -> Result<Value, RpcError> {
    let bad = |e: StateError| RpcError::from_state(&e, "");
    let f = Fields::new(payload, "envelope.payload", &["task_id", "version"], ARG).map_err(bad)?;
    let task_id = f.id("task_id").map_err(bad)?;
    let version = match f.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(int_value(v, "envelope.payload.version", 1, ARG).map_err(bad)?),
    };
    let found = store
        .get(&task_id, version)
        .map_err(|e| RpcError::from_state(&e, ""))?;
    Ok(match found {
        Some(snapshot) => json_object([
            ("found", Value::Bool(true)),
            ("snapshot", snapshot_json(snapshot)),
        ]),
        None => json_object([
            ("found", Value::Bool(false)),
            ("task_id", Value::String(task_id)),
            ("version", version.map_or(Value::Null, Value::from)),
            ("error", Value::from(NOT_FOUND)),
        ]),
    })
}

/// The payload of `state_restore`: `{task_id: string, snapshot_id: string}`.
fn restore(store: &dyn SnapshotStore, payload: &Value) -> Result<Value, RpcError> {
    let bad = |e: StateError| RpcError::from_state(&e, "");
    let f = Fields::new(
        payload,
        "envelope.payload",
        &["task_id", "snapshot_id"],
        ARG,
    )
    .map_err(bad)?;
    let task_id = f.id("task_id").map_err(bad)?;
    let snapshot_id = f.id("snapshot_id").map_err(bad)?;
    let found = store
        .get_by_id(&task_id, &snapshot_id)
        .map_err(|e| RpcError::from_state(&e, ""))?;
    Ok(match found {
        Some(snapshot) => ack(snapshot),
        None => json_object([
            ("ok", Value::Bool(false)),
            ("task_id", Value::String(task_id)),
            ("snapshot_id", Value::String(snapshot_id)),
            ("error", Value::from(NOT_FOUND)),
        ]),
    })
}

/// The payload of `state_save`: `{snapshot: StateSnapshotInput, expected_version?: int | null}`
/// (absent or null = no check; 0 = the task must not exist; n = its latest version must be n).
fn save(store: &dyn SnapshotStore, payload: &Value) -> Result<Value, RpcError> {
    let bad = |e: StateError| RpcError::from_state(&e, "");
    let f = Fields::new(
        payload,
        "envelope.payload",
        &["snapshot", "expected_version"],
        ARG,
    )
    .map_err(bad)?;
    let snapshot = f
        .get("snapshot")
        .ok_or_else(|| RpcError::invalid_params("envelope.payload.snapshot is required"))?;
    // The snapshot's own messages start with "snapshot": name it inside the envelope.
    let input = StateSnapshotInput::from_json(snapshot)
        .map_err(|e| RpcError::from_state(&e, "envelope.payload."))?;
    let expected_version = match f.get("expected_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(int_value(v, "envelope.payload.expected_version", 0, ARG).map_err(bad)?),
    };
    let task_id = input.task_id.clone();
    match store.save(input, SaveOptions { expected_version }) {
        Ok(saved) => Ok(ack(saved)),
        Err(StateError::VersionConflict(message)) => Ok(json_object([
            ("ok", Value::Bool(false)),
            ("task_id", Value::String(task_id)),
            ("error", Value::from("VERSION_CONFLICT")),
            ("message", Value::String(message)),
        ])),
        // The input was checked above: what is left is the store's own failure.
        Err(e) => Err(RpcError::from_state(&e, "")),
    }
}

/// Answers one ASAP state message and returns the reply envelope, or the JSON-RPC error.
///
/// | `payload_type` | payload | reply `payload_type` and payload |
/// |---|---|---|
/// | `state_query` | `{task_id, version?: int \| null}` | `state_query.response`: `{found: true, snapshot}` or `{found: false, task_id, version, error: "snapshot not found"}` |
/// | `state_restore` | `{task_id, snapshot_id}` | `state_restore.ack`: `{ok: true, task_id, snapshot_id, version}` (found by [`SnapshotStore::get_by_id`], any version) or `{ok: false, task_id, snapshot_id, error: "snapshot not found"}` |
/// | `state_save` | `{snapshot: StateSnapshotInput, expected_version?: int \| null}` | `state_save.ack`: `{ok: true, task_id, snapshot_id, version}` or, on an `expected_version` conflict, `{ok: false, task_id, error: "VERSION_CONFLICT", message}` |
///
/// The reply has every envelope field, in the reference's order: `id` a new bare ULID from
/// `runtime`, `asap_version` copied, `timestamp` = `runtime`'s clock (Python `isoformat()`),
/// `sender` = the request's `recipient` and `recipient` = its `sender`, `payload_type`,
/// `payload`, `correlation_id` = the request's `id` (null without one), `trace_id` copied
/// (null without one), `requires_ack: false`, `extensions: null`.
///
/// Errors (nothing is changed by a call that fails): -32602 for a malformed envelope or payload
/// (see [`parse_envelope`]; `data.code` `INVALID_ARGUMENT`, or the snapshot's
/// `INVALID_SNAPSHOT` / `INVALID_TIMESTAMP` / `TOO_LARGE`), -32601 for another `payload_type`,
/// -32603 when the store fails (`data.code` `CLOSED`, `STORAGE_IO`, ...).
///
/// ```
/// use asap_state::{handle_state_envelope, MemorySnapshotStore, Runtime};
/// use serde_json::json;
///
/// let store = MemorySnapshotStore::new();
/// let runtime = Runtime::default();
/// let save = json!({
///     "id": "req-1", "asap_version": "0.1", "trace_id": "trace-7",
///     "sender": "urn:asap:agent:coordinator", "recipient": "urn:asap:agent:backup",
///     "payload_type": "state_save",
///     "payload": {"snapshot": {"task_id": "task-1", "data": {"step": 1}}},
/// });
/// let reply = handle_state_envelope(&store, &runtime, &save)?;
/// assert_eq!(reply["payload_type"], "state_save.ack");
/// assert_eq!(reply["payload"]["ok"], true);
/// assert_eq!(reply["sender"], "urn:asap:agent:backup");
/// assert_eq!(reply["correlation_id"], "req-1");
/// assert_eq!(reply["trace_id"], "trace-7");
///
/// let query = json!({
///     "asap_version": "0.1",
///     "sender": "urn:asap:agent:coordinator", "recipient": "urn:asap:agent:backup",
///     "payload_type": "state_query", "payload": {"task_id": "task-1"},
/// });
/// let reply = handle_state_envelope(&store, &runtime, &query)?;
/// assert_eq!(reply["payload"]["snapshot"]["data"], json!({"step": 1}));
///
/// let bad = json!({"asap_version": "0.1", "sender": "agent-a"});
/// let err = handle_state_envelope(&store, &runtime, &bad).unwrap_err();
/// assert_eq!(err.code, -32602);
/// assert!(err.data["error"].as_str().unwrap_or("").starts_with("envelope.sender must follow"));
/// # Ok::<(), asap_state::RpcError>(())
/// ```
pub fn handle_state_envelope(
    snapshots: &dyn SnapshotStore,
    runtime: &Runtime,
    envelope: &Value,
) -> Result<Value, RpcError> {
    let request = parse_envelope(envelope).map_err(|e| RpcError::from_state(&e, ""))?;
    let payload = Value::Object(request.payload);
    let (reply_type, reply_payload) = match request.payload_type.as_str() {
        "state_query" => ("state_query.response", query(snapshots, &payload)?),
        "state_restore" => ("state_restore.ack", restore(snapshots, &payload)?),
        "state_save" => ("state_save.ack", save(snapshots, &payload)?),
        other => {
            let shown: String = other.chars().take(80).collect();
            return Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!(
                    "envelope.payload_type {shown:?} is not handled; the state messages are {}",
                    STATE_PAYLOAD_TYPES
                        .iter()
                        .map(|t| format!("{t:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "INVALID_ARGUMENT",
            ));
        }
    };
    let now = runtime.clock.now();
    let mut reply = Map::new();
    reply.insert("id".into(), Value::String(runtime.ids.new_id("", now)));
    reply.insert("asap_version".into(), Value::String(request.asap_version));
    reply.insert("timestamp".into(), Value::String(now.to_string()));
    reply.insert("sender".into(), Value::String(request.recipient));
    reply.insert("recipient".into(), Value::String(request.sender));
    reply.insert("payload_type".into(), Value::String(reply_type.to_owned()));
    reply.insert("payload".into(), reply_payload);
    reply.insert(
        "correlation_id".into(),
        request.id.map_or(Value::Null, Value::String),
    );
    reply.insert(
        "trace_id".into(),
        request.trace_id.map_or(Value::Null, Value::String),
    );
    reply.insert("requires_ack".into(), Value::Bool(false));
    reply.insert("extensions".into(), Value::Null);
    Ok(Value::Object(reply))
}

/// A JSON-RPC 2.0 error response.
fn error_response(id: Value, error: &RpcError) -> Value {
    error.response(id)
}

/// Answers a JSON-RPC 2.0 request `{jsonrpc: "2.0", method: "asap.send", params: {envelope},
/// id}` carrying an ASAP state message (see [`handle_state_envelope`]) and returns the
/// response: `{jsonrpc: "2.0", id, result: {envelope}}` or `{jsonrpc: "2.0", id, error}`.
/// Never fails: every problem is an error response.
///
/// `id` is a string, a number or null (absent: null). Errors: -32600 for anything that is not
/// such a request (not an object, `jsonrpc` other than `"2.0"`, `method` not a string, `id` of
/// another type, a field other than `jsonrpc`, `method`, `params`, `id`; the response's `id` is
/// then null unless the request's was readable), -32601 for a method other than `asap.send`,
/// -32602 for `params` other than `{envelope}` and for a malformed envelope, and the errors of
/// [`handle_state_envelope`].
///
/// ```
/// use asap_state::{handle_asap_request, MemorySnapshotStore, Runtime};
/// use serde_json::json;
///
/// let store = MemorySnapshotStore::new();
/// let request = json!({
///     "jsonrpc": "2.0", "method": "asap.send", "id": 7,
///     "params": {"envelope": {
///         "asap_version": "0.1",
///         "sender": "urn:asap:agent:coordinator", "recipient": "urn:asap:agent:backup",
///         "payload_type": "state_query", "payload": {"task_id": "task-1"},
///     }},
/// });
/// let response = handle_asap_request(&store, &Runtime::default(), &request);
/// assert_eq!(response["id"], 7);
/// assert_eq!(response["result"]["envelope"]["payload"]["found"], false);
///
/// let response = handle_asap_request(&store, &Runtime::default(), &json!([]));
/// assert_eq!(response["error"]["code"], -32600);
/// ```
pub fn handle_asap_request(
    snapshots: &dyn SnapshotStore,
    runtime: &Runtime,
    request: &Value,
) -> Value {
    let Value::Object(map) = request else {
        let error = RpcError::new(
            INVALID_REQUEST,
            format!(
                "request must be a JSON-RPC 2.0 request object, got {}",
                describe(request)
            ),
            "INVALID_ARGUMENT",
        );
        return error_response(Value::Null, &error);
    };
    let invalid = |message: String| RpcError::new(INVALID_REQUEST, message, "INVALID_ARGUMENT");
    let id = match map.get("id") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        Some(other) => {
            let error = invalid(format!(
                "request.id must be a string, a number or null, got {}",
                describe(other)
            ));
            return error_response(Value::Null, &error);
        }
    };
    let checked = (|| {
        if let Some(unknown) = map
            .keys()
            .find(|k| !["jsonrpc", "method", "params", "id"].contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "request: unknown field {unknown:?} (allowed: jsonrpc, method, params, id)"
            )));
        }
        match map.get("jsonrpc") {
            Some(Value::String(v)) if v == "2.0" => {}
            Some(other) => {
                return Err(invalid(format!(
                    "request.jsonrpc must be \"2.0\", got {}",
                    describe(other)
                )))
            }
            None => return Err(invalid("request.jsonrpc is required (\"2.0\")".into())),
        }
        match map.get("method") {
            Some(Value::String(m)) if m == ASAP_METHOD => {}
            Some(Value::String(m)) => {
                let shown: String = m.chars().take(80).collect();
                return Err(RpcError::new(
                    METHOD_NOT_FOUND,
                    format!("request.method {shown:?} is not supported; use \"{ASAP_METHOD}\""),
                    "INVALID_ARGUMENT",
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "request.method must be a string, got {}",
                    describe(other)
                )))
            }
            None => {
                return Err(invalid(format!(
                    "request.method is required (\"{ASAP_METHOD}\")"
                )))
            }
        }
        let params = map
            .get("params")
            .ok_or_else(|| RpcError::invalid_params("request.params is required ({envelope})"))?;
        let f = Fields::new(params, "request.params", &["envelope"], ARG)
            .map_err(|e| RpcError::from_state(&e, ""))?;
        f.get("envelope")
            .ok_or_else(|| RpcError::invalid_params("request.params.envelope is required"))
    })();
    let result = checked.and_then(|envelope| handle_state_envelope(snapshots, runtime, envelope));
    match result {
        Ok(reply) => json_object([
            ("jsonrpc", Value::from("2.0")),
            ("id", id),
            ("result", json_object([("envelope", reply)])),
        ]),
        Err(error) => error_response(id, &error),
    }
}

/// [`handle_asap_request`] on a request body as text: text that is not JSON gets a -32700
/// "Parse error" response with `id` null (as does JSON nested deeper than 128 levels).
///
/// ```
/// use asap_state::{handle_asap_request_str, MemorySnapshotStore, Runtime};
///
/// let store = MemorySnapshotStore::new();
/// let response = handle_asap_request_str(&store, &Runtime::default(), "{");
/// assert_eq!(response["error"]["code"], -32700);
/// assert_eq!(response["id"], serde_json::Value::Null);
/// ```
pub fn handle_asap_request_str(
    snapshots: &dyn SnapshotStore,
    runtime: &Runtime,
    body: &str,
) -> Value {
    match parse_asap_request(body) {
        Ok(request) => handle_asap_request(snapshots, runtime, &request),
        Err(response) => response,
    }
}

/// A request body as text, parsed: the request, or the -32700 "Parse error" response (`id`
/// null) that [`handle_asap_request_str`] answers for text that is not JSON.
///
/// ```
/// let response = asap_state::parse_asap_request("{").unwrap_err();
/// assert_eq!(response["error"]["code"], -32700);
/// assert_eq!(asap_state::parse_asap_request("[]").unwrap(), serde_json::json!([]));
/// ```
pub fn parse_asap_request(body: &str) -> Result<Value, Value> {
    serde_json::from_str::<Value>(body).map_err(|e| {
        error_response(
            Value::Null,
            &RpcError::new(
                PARSE_ERROR,
                format!("the request body is not JSON: {e}"),
                "INVALID_ARGUMENT",
            ),
        )
    })
}
