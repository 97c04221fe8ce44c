//! Converting between JavaScript values and JSON, strictly: values JSON cannot hold
//! (`undefined` inside data, `NaN`, `Infinity`, BigInt, functions, symbols, cycles, class
//! instances) are rejected with a message naming the path, never coerced or dropped; getters
//! and proxies that throw become errors too. Nothing here can trap.

use asap_state::binding::ErrFn;
use asap_state::{StateError, MAX_DEPTH};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn object_keys(o: &JsValue) -> Result<js_sys::Array, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    pub(crate) fn is_array(o: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = getPrototypeOf)]
    fn prototype_of(o: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub(crate) fn get(o: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = apply)]
    fn apply(f: &JsValue, this: &JsValue, args: &js_sys::Array) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(thread_local_v2, js_namespace = Object, js_name = prototype)]
    static OBJECT_PROTOTYPE: JsValue;
    #[wasm_bindgen(thread_local_v2, js_namespace = Date, js_name = prototype)]
    static DATE_PROTOTYPE: JsValue;
}

#[wasm_bindgen(module = "/js/json-text.js")]
extern "C" {
    #[wasm_bindgen(js_name = jsonText)]
    fn json_text_bytes(value: &JsValue, limit: f64) -> Option<Vec<u8>>;
    /// A plain JavaScript array of numbers, copied by a JavaScript loop from a view of wasm
    /// memory (`Array.from` on a typed array costs several times more).
    #[wasm_bindgen(js_name = numberArray)]
    pub(crate) fn number_array(values: &[f64]) -> JsValue;
}

/// The JSON text of plain JSON data nesting at most `limit` levels (see `json-text.js`).
fn json_text(value: &JsValue, limit: usize) -> Option<String> {
    #[allow(clippy::cast_precision_loss)]
    let bytes = json_text_bytes(value, limit as f64)?;
    String::from_utf8(bytes).ok()
}

/// The fast path for data: plain JSON data nesting at most `limit` levels, converted by
/// JavaScript to text in one pass and parsed here, instead of one crossing per value. `None`
/// when the value is anything else (or the text would not parse): the exact walk then names
/// what is wrong. See `wasm/js/json-text.js` for what it accepts.
fn fast_data(v: &JsValue, limit: usize) -> Option<Value> {
    parse_text(&json_text(v, limit)?)
}

/// JSON text from `json-text.js` as a value (its nesting is already within the limit).
fn parse_text(text: &str) -> Option<Value> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// How `Date` objects are treated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inside `data`: only JSON values; `undefined` and `Date` are errors.
    Data,
    /// Arguments and option objects: a `Date` becomes epoch milliseconds (a `TimestampInput`),
    /// and a property whose value is `undefined` counts as absent.
    Args,
}

/// Where a value sits inside an argument, for error messages. Built on the stack as the walk
/// descends and printed only when something is wrong, so a valid input allocates no paths.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, u32),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// The fields of input and option objects that hold a `TimestampInput`.
const TIMESTAMP_KEYS: [&str; 5] = ["created_at", "timestamp", "start", "end", "olderThan"];

struct Walker {
    err: ErrFn,
    mode: Mode,
    ancestors: Vec<JsValue>,
    /// Keep a plain-JSON `data` object as its text (in `data_text`), leaving `{}` in its place.
    capture_data: bool,
    data_text: Option<String>,
}

fn type_name(v: &JsValue) -> String {
    if v.is_undefined() {
        return "undefined".into();
    }
    if v.is_bigint() {
        return "a BigInt".into();
    }
    if v.is_symbol() {
        return "a symbol".into();
    }
    if v.is_function() {
        return "a function".into();
    }
    if let Some(n) = v.as_f64() {
        return format!("{n}");
    }
    let name = get(v, &JsValue::from_str("constructor"))
        .ok()
        .and_then(|c| get(&c, &JsValue::from_str("name")).ok())
        .and_then(|n| n.as_string())
        .filter(|n| !n.is_empty());
    match name {
        Some(n) if n.starts_with(['A', 'E', 'I', 'O', 'U']) => format!("an {n}"),
        Some(n) => format!("a {n}"),
        None => "an object with a custom prototype".into(),
    }
}

/// The message of a thrown JS value: its `message`, or the value itself if it is a string.
pub(crate) fn message(e: &JsValue) -> String {
    get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "an exception".into())
}

impl Walker {
    fn fail(&self, path: &Path<'_>, what: String) -> StateError {
        (self.err)(format!("{path}: {what}"))
    }

    fn number(&self, n: f64, path: &Path<'_>) -> Result<Value, StateError> {
        if !n.is_finite() {
            let text = if n.is_nan() {
                "NaN"
            } else if n > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            return Err(self.fail(path, format!("{text} is not a JSON number")));
        }
        // Integers JavaScript holds exactly become JSON integers; everything else stays a double
        // (so `1.5` stays `1.5` and `2**60` is not mistaken for an exact integer).
        if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Ok(if n >= 0.0 {
                Value::Number(Number::from(n as u64))
            } else {
                Value::Number(Number::from(n as i64))
            });
        }
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| self.fail(path, format!("{n} is not a JSON number")))
    }

    /// A string, unless the JavaScript text holds a lone surrogate: UTF-8 cannot store it, and
    /// replacing it with U+FFFD would change the data silently.
    fn check_string(&self, v: &JsValue, s: &str, path: &Path<'_>) -> Result<(), StateError> {
        if s.contains('\u{FFFD}')
            && v.dyn_ref::<js_sys::JsString>()
                .is_some_and(|js| !js.is_valid_utf16())
        {
            return Err(self.fail(
                path,
                "the string holds a lone UTF-16 surrogate, which is not valid Unicode text".into(),
            ));
        }
        Ok(())
    }

    fn walk(&mut self, v: &JsValue, path: &Path<'_>) -> Result<Value, StateError> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        if let Some(b) = v.as_bool() {
            return Ok(Value::Bool(b));
        }
        if let Some(n) = v.as_f64() {
            return self.number(n, path);
        }
        if let Some(s) = v.as_string() {
            self.check_string(v, &s, path)?;
            return Ok(Value::String(s));
        }
        if !v.is_object() || v.is_function() {
            return Err(self.fail(path, format!("{} is not a JSON value", type_name(v))));
        }
        if self.ancestors.iter().any(|a| a == v) {
            return Err(self.fail(path, "the value refers to itself (a cycle)".into()));
        }
        if self.ancestors.len() >= MAX_DEPTH {
            return Err(StateError::TooLarge(format!(
                "{path}: nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let throw = |e: JsValue| self.fail(path, format!("reading it threw: {}", message(&e)));
        if is_array(v).map_err(throw)? {
            let len = get(v, &JsValue::from_str("length"))
                .map_err(throw)?
                .as_f64()
                .unwrap_or(0.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let len = len.clamp(0.0, u32::MAX as f64) as u32;
            self.ancestors.push(v.clone());
            let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
            for i in 0..len {
                let item_path = Path::Index(path, i);
                let item = get(v, &JsValue::from(i)).map_err(|e| {
                    self.fail(&item_path, format!("reading it threw: {}", message(&e)))
                })?;
                if item.is_undefined() {
                    self.ancestors.pop();
                    return Err(self.fail(&item_path, "undefined is not a JSON value".into()));
                }
                match self.walk(&item, &item_path) {
                    Ok(x) => items.push(x),
                    Err(e) => {
                        self.ancestors.pop();
                        return Err(e);
                    }
                }
            }
            self.ancestors.pop();
            return Ok(Value::Array(items));
        }
        let proto = prototype_of(v).map_err(throw)?;
        if self.mode == Mode::Args && DATE_PROTOTYPE.with(|d| proto == *d) {
            // `Date.prototype.getTime` through Reflect, which catches: it throws for an object
            // that only inherits from Date.prototype.
            let ms = DATE_PROTOTYPE
                .with(|d| get(d, &JsValue::from_str("getTime")))
                .and_then(|f| apply(&f, v, &js_sys::Array::new()))
                .ok()
                .and_then(|t: JsValue| t.as_f64())
                .unwrap_or(f64::NAN);
            if !ms.is_finite() {
                return Err(StateError::InvalidTimestamp(format!(
                    "{path}: the Date is invalid"
                )));
            }
            return self.number(ms.trunc(), path);
        }
        if !(proto.is_null() || OBJECT_PROTOTYPE.with(|o| proto == *o)) {
            return Err(self.fail(
                path,
                format!(
                    "{} is not a plain object; only plain objects, arrays, strings, finite numbers, booleans and null are JSON",
                    type_name(v)
                ),
            ));
        }
        self.ancestors.push(v.clone());
        let result = self.object(v, path);
        self.ancestors.pop();
        result
    }

    fn object(&mut self, v: &JsValue, path: &Path<'_>) -> Result<Value, StateError> {
        let throw = |e: JsValue| self.fail(path, format!("reading it threw: {}", message(&e)));
        let keys = object_keys(v).map_err(throw)?;
        let mut map = Map::new();
        for key in keys.iter() {
            let Some(k) = key.as_string() else { continue };
            let child_path = Path::Key(path, &k);
            self.check_string(&key, &k, &child_path)?;
            let item = get(v, &key).map_err(|e| {
                self.fail(&child_path, format!("reading it threw: {}", message(&e)))
            })?;
            if item.is_undefined() {
                if self.mode == Mode::Args {
                    continue;
                }
                return Err(self.fail(&child_path, "undefined is not a JSON value".into()));
            }
            let top = self.mode == Mode::Args && self.ancestors.len() == 1;
            let value = if top && k == "data" {
                let limit = MAX_DEPTH.saturating_sub(self.ancestors.len());
                let fast = if self.capture_data {
                    match json_text(&item, limit) {
                        Some(text) if text.starts_with('{') => {
                            self.data_text = Some(text);
                            map.insert(k, Value::Object(Map::new()));
                            continue;
                        }
                        // Plain data but not an object: parsed here (read once), refused later.
                        Some(text) => parse_text(&text),
                        None => None,
                    }
                } else {
                    fast_data(&item, limit)
                };
                if let Some(v) = fast {
                    map.insert(k, v);
                    continue;
                }
                // The `data` of a snapshot input is data, even inside an argument object.
                self.mode = Mode::Data;
                let r = self.walk(&item, &child_path);
                self.mode = Mode::Args;
                r?
            } else if top && TIMESTAMP_KEYS.contains(&k.as_str()) {
                // Whatever is wrong with a timestamp field is a timestamp error.
                let err = std::mem::replace(&mut self.err, StateError::InvalidTimestamp);
                let r = self.walk(&item, &child_path);
                self.err = err;
                r?
            } else {
                self.walk(&item, &child_path)?
            };
            map.insert(k, value);
        }
        Ok(Value::Object(map))
    }
}

/// Converts an argument (an input object, an option object, or a scalar) to JSON. `name`
/// starts the paths in error messages; `err` builds the error. `undefined` gives `None`.
pub fn arg(v: &JsValue, name: &str, err: ErrFn) -> Result<Option<Value>, StateError> {
    if v.is_undefined() {
        return Ok(None);
    }
    let mut w = Walker {
        err,
        mode: Mode::Args,
        ancestors: Vec::new(),
        capture_data: false,
        data_text: None,
    };
    w.walk(v, &Path::Root(name)).map(Some)
}

/// A snapshot input argument (`undefined` gives JSON `null`), with its `data` kept as JSON text
/// when it is plain JSON data (then `data` in the value is `{}`): what `save` hands to
/// [`asap_state::SnapshotStore::save_data_text`], so the data is never built as a tree.
pub fn snapshot_arg(
    v: &JsValue,
    name: &str,
    err: ErrFn,
) -> Result<(Value, Option<String>), StateError> {
    if v.is_undefined() {
        return Ok((Value::Null, None));
    }
    let mut w = Walker {
        err,
        mode: Mode::Args,
        ancestors: Vec::new(),
        capture_data: true,
        data_text: None,
    };
    let value = w.walk(v, &Path::Root(name))?;
    Ok((value, w.data_text))
}

/// Converts a JSON value argument (e.g. of `diffJson`) as `data` is converted: only JSON
/// values, anywhere in it (`undefined`, a `Date` or a class instance is an error, as is the
/// argument itself being `undefined`). `name` starts the paths in error messages.
pub fn json_arg(v: &JsValue, name: &str, err: ErrFn) -> Result<Value, StateError> {
    if let Some(value) = fast_data(v, MAX_DEPTH) {
        return Ok(value);
    }
    let mut w = Walker {
        err,
        mode: Mode::Data,
        ancestors: Vec::new(),
        capture_data: false,
        data_text: None,
    };
    w.walk(v, &Path::Root(name))
}

/// Converts an argument, mapping `undefined` to JSON `null`.
pub fn arg_or_null(v: &JsValue, name: &str, err: ErrFn) -> Result<Value, StateError> {
    arg(v, name, err).map(|o| o.unwrap_or(Value::Null))
}

/// A fresh JavaScript value for JSON text a store wrote (`JSON.parse`).
pub fn text_to_js(text: &str) -> Result<JsValue, JsValue> {
    json_parse(text)
}

/// A fresh JavaScript value (plain objects and arrays) for a serialisable model.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| {
        crate::error::to_js(StateError::StorageIo(format!(
            "could not encode result: {e}"
        )))
    })?;
    json_parse(&text)
}
