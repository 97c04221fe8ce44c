//! Strict readers for JSON input objects: unknown fields rejected, integers exact, every error
//! naming its field.

use serde_json::{Map, Value};

use crate::error::{Result, StateError};

/// The largest integer JavaScript represents exactly, `2^53 - 1`.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;
/// The deepest nesting accepted inside `data` (the JSON parsers of the readers stop at 128).
pub const MAX_DEPTH: usize = 128;
/// The longest accepted id (`id`, `task_id`, `agent_id`, `consumer_id`), in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 1024;
/// The largest accepted `data` object, as JSON text.
pub const MAX_DATA_BYTES: usize = 32 * 1024 * 1024;

/// A short description of a JSON value for error messages: its type and, for scalars, the value.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {}", number_text(n)),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}...")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A number as JavaScript prints it: integral doubles without `.0` or an exponent below 1e21.
pub fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// A constructor for the error of one kind of input (e.g. `StateError::InvalidSnapshot`).
pub type ErrFn = fn(String) -> StateError;

/// Reads one input object: checks it is an object and has no field outside `allowed`.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'a str,
    err: ErrFn,
}

impl<'a> Fields<'a> {
    /// `what` names the object in messages (e.g. `"snapshot"`); `err` builds the error.
    pub fn new(value: &'a Value, what: &'a str, allowed: &[&str], err: ErrFn) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(err(format!(
                "{what} must be an object, got {}",
                describe(value)
            )));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(err(format!(
                "{what}: unknown field {unknown:?} (allowed: {})",
                allowed.join(", ")
            )));
        }
        Ok(Fields { map, what, err })
    }

    /// The field's value; `None` when absent. (`null` is a value like any other: a field
    /// typed without `null` rejects it, as the reference does.)
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The field's name in messages, built only for one.
    fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }

    /// A field's value as an id; the name is written only when it is not one.
    fn id_of(&self, key: &str, value: &Value) -> Result<String> {
        match value {
            Value::String(s) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Ok(s.clone()),
            other => id_value(other, &self.name(key), self.err),
        }
    }

    /// A required non-empty string (at most [`MAX_ID_BYTES`]).
    pub fn id(&self, key: &str) -> Result<String> {
        match self.get(key) {
            Some(v) => self.id_of(key, v),
            None => Err((self.err)(format!("{} is required", self.name(key)))),
        }
    }

    /// An optional non-empty string id.
    pub fn opt_id(&self, key: &str) -> Result<Option<String>> {
        self.get(key).map(|v| self.id_of(key, v)).transpose()
    }

    /// An optional boolean.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err((self.err)(format!(
                "{} must be a boolean, got {}",
                self.name(key),
                describe(other)
            ))),
        }
    }

    /// An optional integer in `min..=MAX_SAFE_INTEGER`.
    pub fn opt_int(&self, key: &str, min: u64) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| match v.as_u64() {
                Some(u) if (min..=MAX_SAFE_INTEGER).contains(&u) => Ok(u),
                _ => int_value(v, &self.name(key), min, self.err),
            })
            .transpose()
    }
}

/// A non-empty string id of at most [`MAX_ID_BYTES`].
pub fn id_value(value: &Value, name: &str, err: ErrFn) -> Result<String> {
    match value {
        Value::String(s) => check_id(s, name, err).map(|()| s.clone()),
        other => Err(err(format!(
            "{name} must be a string, got {}",
            describe(other)
        ))),
    }
}

/// Checks a string id: non-empty, at most [`MAX_ID_BYTES`] bytes.
pub fn check_id(s: &str, name: &str, err: ErrFn) -> Result<()> {
    if s.is_empty() {
        Err(err(format!("{name} must be a non-empty string")))
    } else if s.len() > MAX_ID_BYTES {
        Err(err(format!(
            "{name} is {} bytes long; the limit is {MAX_ID_BYTES}",
            s.len()
        )))
    } else {
        Ok(())
    }
}

/// An integer in `min..=MAX_SAFE_INTEGER`: never rounded, never coerced from strings.
pub fn int_value(value: &Value, name: &str, min: u64, err: ErrFn) -> Result<u64> {
    let range = || format!("an integer from {min} to {MAX_SAFE_INTEGER}");
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(u) if (min..=MAX_SAFE_INTEGER).contains(&u) => Ok(u),
            _ => Err(err(format!(
                "{name} must be {}, got {}",
                range(),
                number_text(n)
            ))),
        },
        other => Err(err(format!(
            "{name} must be {}, got {}",
            range(),
            describe(other)
        ))),
    }
}

/// Checks a `data` value: nesting depth at most [`MAX_DEPTH`], else `TOO_LARGE`. (Serde's
/// `Value` cannot hold `NaN` or infinities, so every value that reaches here is JSON.)
pub fn check_depth(value: &Value, name: &str) -> Result<()> {
    // Iterative, so hostile nesting cannot exhaust the stack.
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(StateError::TooLarge(format!(
                "{name} nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let next = depth.saturating_add(1);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, next))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, next))),
            _ => {}
        }
    }
    Ok(())
}

/// The length of a value's compact JSON text, without building it.
pub fn json_len(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// The deepest nesting of arrays and objects in JSON text, counted without parsing (brackets
/// inside strings do not count).
pub(crate) fn json_nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads a row's `data` text. The stores accept values nested [`crate::MAX_DEPTH`] levels deep
/// below a key of `data`, so the text nests up to one level more (the object itself) — past
/// serde_json's default parser limit of 127. The depth is checked here first, then the text is
/// parsed without that limit, so what was saved always reads back and a hostile file cannot
/// nest deep enough to exhaust the stack.
pub(crate) fn data_from_text(text: &str) -> std::result::Result<Map<String, Value>, String> {
    use serde::Deserialize;
    let limit = crate::MAX_DEPTH.saturating_add(1);
    let depth = json_nesting(text);
    if depth > limit {
        return Err(format!(
            "it nests {depth} levels deep; the limit is {limit}"
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let data = Map::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(data)
}

/// Appends `s` as a JSON string, byte for byte as serde_json writes it: as it is between quotes
/// when nothing in it needs an escape (found eight bytes at a time), else through serde_json.
pub fn push_json_string(out: &mut String, s: &str) {
    if crate::compact::find_special(s.as_bytes(), 0).is_none() {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

/// Appends the decimal digits of `n` (what `n.to_string()` gives, without the formatter).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at = at.saturating_sub(1);
        if let Some(b) = buf.get_mut(at) {
            *b = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(buf.get(at..).unwrap_or_default()).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_values() {
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!("2")), "string \"2\"");
        assert_eq!(describe(&json!([1])), "an array");
        assert_eq!(describe(&json!({})), "an object");
        assert_eq!(describe(&json!(true)), "boolean true");
        assert!(describe(&json!("x".repeat(100))).ends_with("..."));
    }

    #[test]
    fn integers_are_exact() {
        let e = StateError::InvalidArgument;
        assert_eq!(int_value(&json!(3), "v", 1, e).unwrap(), 3);
        assert_eq!(
            int_value(&json!(MAX_SAFE_INTEGER), "v", 1, e).unwrap(),
            MAX_SAFE_INTEGER
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("2"),
            json!(MAX_SAFE_INTEGER + 1),
            json!(null),
        ] {
            let err = int_value(&bad, "v", 1, e).unwrap_err();
            assert!(
                err.message().starts_with("v must be an integer from 1"),
                "{err}"
            );
        }
    }

    #[test]
    fn depth_and_length() {
        let mut v = json!(1);
        for _ in 0..MAX_DEPTH {
            v = json!([v]);
        }
        assert_eq!(check_depth(&v, "data").unwrap_err().code(), "TOO_LARGE");
        let mut ok = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            ok = json!([ok]);
        }
        assert!(check_depth(&ok, "data").is_ok());
        assert_eq!(json_len(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#.len());
    }
}
