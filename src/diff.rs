//! The difference between two JSON values, and between two snapshots' `data`: a list of
//! changes addressed by JSON Pointers (RFC 6901), in an order that applies sequentially.

use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::model::StateSnapshot;

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// The path exists only in the new value (`new` holds its value).
    Added,
    /// The path exists only in the old value (`old` holds its value).
    Removed,
    /// The path holds different values (`old` and `new` hold them): a different scalar, or a
    /// different type (an object replaced by an array, a number by a string, …).
    Changed,
}

/// One step of a path: an object key or an array index. Serialised untagged, as a JSON string
/// or a JSON number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A key of an object.
    Key(String),
    /// An index of an array.
    Index(usize),
}

/// One difference between two JSON values.
///
/// Serialised as `{ "op", "path", "segments", "old"?, "new"? }`: `old` and `new` are left out
/// when `None`, and a JSON `null` value is written as `null`. An [`ChangeOp::Added`] change has
/// only `new`, a [`ChangeOp::Removed`] one only `old`, a [`ChangeOp::Changed`] one both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// What happened.
    pub op: ChangeOp,
    /// Where, as an RFC 6901 JSON Pointer: `""` for the root, `"/a/0/b"` below it; `~` in a
    /// key is written `~0` and `/` is written `~1`.
    pub path: String,
    /// The same path as a list of keys and indices (empty for the root), unescaped.
    pub segments: Vec<PathSegment>,
    /// The value before (for `removed` and `changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after (for `added` and `changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The difference between two snapshots' `data`, from [`diff_snapshots`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotDiff {
    /// The task of the `from` snapshot.
    pub task_id: String,
    /// The version of the `from` snapshot.
    pub from_version: u64,
    /// The version of the `to` snapshot.
    pub to_version: u64,
    /// The id of the `from` snapshot.
    pub from_id: String,
    /// The id of the `to` snapshot.
    pub to_id: String,
    /// How many changes are [`ChangeOp::Added`].
    pub added: usize,
    /// How many changes are [`ChangeOp::Removed`].
    pub removed: usize,
    /// How many changes are [`ChangeOp::Changed`].
    pub changed: usize,
    /// The changes from `from.data` to `to.data`, as [`diff_json`] lists them.
    pub changes: Vec<Change>,
}

/// The changes that turn `old` into `new`; empty when they are equal.
///
/// * Objects are compared key by key, recursively: first the keys of `old` in their order
///   (`removed` when absent from `new`, else compared), then the keys only in `new`, in their
///   order (`added`). "Their order" is the maps' insertion order (this crate builds
///   `serde_json` with `preserve_order`). Key order itself is not a difference.
/// * Arrays are compared index by index up to the shorter length; then a longer `new` gives one
///   `added` per extra index (ascending), a longer `old` one `removed` per extra index,
///   **from the highest index down**.
/// * Anything else that differs — a scalar, or the type (an object against an array, a number
///   against a string, …) — is one `changed` at that path.
/// * Numbers compare by value: `1` equals `1.0`; two integers are compared exactly (not
///   through `f64`), and an integer equals a float only when the float is exactly that integer.
///
/// The order makes the list a patch: applying the changes one after another to `old` (set the
/// value at `path` for `added`/`changed`, delete it for `removed`; an array index one past the
/// end appends) yields `new` (equal by this comparison: key order and `1.0` against `1` aside)
/// — the trailing array removals come highest index first so each deletes the array's current
/// last element. So `added` → `add`, `changed` → `replace`, `removed` → `remove` is also a
/// valid RFC 6902 JSON Patch from `old` to `new`. Each change is a leaf of the comparison: nothing
/// below a reported path is reported again.
///
/// The walk, and the copies of values it puts in the changes, use an explicit stack, so deeply
/// nested input cannot overflow the call stack. (Dropping a deeply nested `Value` — the
/// changes' or any other — is `serde_json`'s recursive `Drop`.)
///
/// ```
/// use asap_state::{diff_json, ChangeOp, PathSegment};
/// use serde_json::json;
///
/// let old = json!({"step": 1, "plan": ["a", "b"], "note": "x", "a/b": 1.0});
/// let new = json!({"step": 2, "plan": ["a"], "a/b": 1, "done": null});
/// let changes = diff_json(&old, &new);
///
/// let summary: Vec<(ChangeOp, &str)> = changes.iter().map(|c| (c.op, c.path.as_str())).collect();
/// assert_eq!(summary, [
///     (ChangeOp::Changed, "/step"),
///     (ChangeOp::Removed, "/plan/1"),
///     (ChangeOp::Removed, "/note"),
///     (ChangeOp::Added, "/done"),   // 1.0 and 1 are equal: "/a~1b" is not listed
/// ]);
/// assert_eq!(changes[0].old, Some(json!(1)));
/// assert_eq!(changes[0].new, Some(json!(2)));
/// assert_eq!(changes[1].segments, [PathSegment::Key("plan".into()), PathSegment::Index(1)]);
/// assert_eq!(changes[3].new, Some(json!(null))); // a null value is present as null
///
/// assert_eq!(
///     serde_json::to_value(&changes[3])?,
///     json!({"op": "added", "path": "/done", "segments": ["done"], "new": null}),
/// );
/// assert!(diff_json(&old, &old).is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn diff_json(old: &Value, new: &Value) -> Vec<Change> {
    let mut differ = Differ::default();
    differ.stack.push(Work::Compare(old, new, None));
    differ.run()
}

/// The difference between two snapshots' `data` ([`diff_json`] of the two objects), with the
/// versions, ids and counts of each kind of change. Only `data` is compared (`checkpoint` and
/// `created_at` are not).
///
/// The two snapshots may belong to different tasks, and `from` may be the newer one (the
/// changes then go backwards); `task_id` is `from`'s.
pub fn diff_snapshots(from: &StateSnapshot, to: &StateSnapshot) -> SnapshotDiff {
    let mut differ = Differ::default();
    differ.objects(&from.data, &to.data, None);
    let changes = differ.run();
    let count = |op: ChangeOp| changes.iter().filter(|c| c.op == op).count();
    SnapshotDiff {
        task_id: from.task_id.clone(),
        from_version: from.version,
        to_version: to.version,
        from_id: from.id.clone(),
        to_id: to.id.clone(),
        added: count(ChangeOp::Added),
        removed: count(ChangeOp::Removed),
        changed: count(ChangeOp::Changed),
        changes,
    }
}

/// A path step borrowed from the input.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A node of the path tree: paths are shared with their parents and only built into
/// [`PathSegment`]s for the changes reported, so the walk allocates nothing per level.
struct Node<'a> {
    parent: Option<usize>,
    seg: Seg<'a>,
}

/// Work left to do. A path is an index into [`Differ::nodes`]; `None` is the root.
enum Work<'a> {
    Compare(&'a Value, &'a Value, Option<usize>),
    Emit(
        ChangeOp,
        Option<&'a Value>,
        Option<&'a Value>,
        Option<usize>,
    ),
}

#[derive(Default)]
struct Differ<'a> {
    nodes: Vec<Node<'a>>,
    stack: Vec<Work<'a>>,
    out: Vec<Change>,
}

impl<'a> Differ<'a> {
    fn node(&mut self, parent: Option<usize>, seg: Seg<'a>) -> Option<usize> {
        self.nodes.push(Node { parent, seg });
        self.nodes.len().checked_sub(1)
    }

    /// Pushes the work of two objects so that it pops in the documented order.
    fn objects(
        &mut self,
        old: &'a Map<String, Value>,
        new: &'a Map<String, Value>,
        at: Option<usize>,
    ) {
        let mut items = Vec::with_capacity(old.len().max(new.len()));
        for (key, o) in old {
            let path = self.node(at, Seg::Key(key));
            items.push(match new.get(key) {
                Some(n) => Work::Compare(o, n, path),
                None => Work::Emit(ChangeOp::Removed, Some(o), None, path),
            });
        }
        for (key, n) in new {
            if !old.contains_key(key) {
                let path = self.node(at, Seg::Key(key));
                items.push(Work::Emit(ChangeOp::Added, None, Some(n), path));
            }
        }
        self.stack.extend(items.into_iter().rev());
    }

    /// Pushes the work of two arrays so that it pops in the documented order.
    fn arrays(&mut self, old: &'a [Value], new: &'a [Value], at: Option<usize>) {
        let common = old.len().min(new.len());
        let mut items = Vec::with_capacity(old.len().max(new.len()));
        for (i, (o, n)) in old.iter().zip(new).enumerate() {
            let path = self.node(at, Seg::Index(i));
            items.push(Work::Compare(o, n, path));
        }
        for (i, n) in new.iter().enumerate().skip(common) {
            let path = self.node(at, Seg::Index(i));
            items.push(Work::Emit(ChangeOp::Added, None, Some(n), path));
        }
        for (i, o) in old.iter().enumerate().skip(common).rev() {
            let path = self.node(at, Seg::Index(i));
            items.push(Work::Emit(ChangeOp::Removed, Some(o), None, path));
        }
        self.stack.extend(items.into_iter().rev());
    }

    fn run(mut self) -> Vec<Change> {
        while let Some(work) = self.stack.pop() {
            match work {
                Work::Compare(Value::Object(o), Value::Object(n), at) => self.objects(o, n, at),
                Work::Compare(Value::Array(o), Value::Array(n), at) => self.arrays(o, n, at),
                Work::Compare(o, n, at) => {
                    if !scalars_equal(o, n) {
                        self.emit(ChangeOp::Changed, Some(o), Some(n), at);
                    }
                }
                Work::Emit(op, o, n, at) => self.emit(op, o, n, at),
            }
        }
        self.out
    }

    fn emit(&mut self, op: ChangeOp, old: Option<&Value>, new: Option<&Value>, at: Option<usize>) {
        let segments = self.segments(at);
        self.out.push(Change {
            op,
            path: pointer(&segments),
            segments,
            old: old.map(deep_clone),
            new: new.map(deep_clone),
        });
    }

    fn segments(&self, at: Option<usize>) -> Vec<PathSegment> {
        let mut segments = Vec::new();
        let mut cur = at;
        while let Some(node) = cur.and_then(|i| self.nodes.get(i)) {
            segments.push(match node.seg {
                Seg::Key(k) => PathSegment::Key(k.to_owned()),
                Seg::Index(i) => PathSegment::Index(i),
            });
            cur = node.parent;
        }
        segments.reverse();
        segments
    }
}

/// A copy of a value made with an explicit stack (the derived `Clone` of `Value` recurses once
/// per level of nesting).
fn deep_clone(value: &Value) -> Value {
    enum Items<'a> {
        Array(std::slice::Iter<'a, Value>, Vec<Value>),
        Object(serde_json::map::Iter<'a>, Map<String, Value>),
    }
    /// A container being copied, and its key in the parent object (if the parent is one).
    struct Frame<'a> {
        key: Option<&'a str>,
        items: Items<'a>,
    }
    /// A frame for a container; a scalar is copied at once.
    fn open<'a>(value: &'a Value, key: Option<&'a str>) -> Result<Frame<'a>, Value> {
        match value {
            Value::Array(a) => Ok(Frame {
                key,
                items: Items::Array(a.iter(), Vec::with_capacity(a.len())),
            }),
            Value::Object(m) => Ok(Frame {
                key,
                items: Items::Object(m.iter(), Map::with_capacity(m.len())),
            }),
            scalar => Err(scalar.clone()),
        }
    }
    fn put(items: &mut Items<'_>, key: Option<&str>, value: Value) {
        match items {
            Items::Array(_, out) => out.push(value),
            Items::Object(_, out) => {
                out.insert(key.unwrap_or_default().to_owned(), value);
            }
        }
    }

    let mut stack = match open(value, None) {
        Ok(frame) => vec![frame],
        Err(scalar) => return scalar,
    };
    while let Some(top) = stack.last_mut() {
        let next = match &mut top.items {
            Items::Array(iter, _) => iter.next().map(|v| (None, v)),
            Items::Object(iter, _) => iter.next().map(|(k, v)| (Some(k.as_str()), v)),
        };
        match next {
            Some((key, child)) => match open(child, key) {
                Ok(frame) => stack.push(frame),
                Err(scalar) => put(&mut top.items, key, scalar),
            },
            None => {
                let Some(done) = stack.pop() else { break };
                let copy = match done.items {
                    Items::Array(_, out) => Value::Array(out),
                    Items::Object(_, out) => Value::Object(out),
                };
                match stack.last_mut() {
                    Some(parent) => put(&mut parent.items, done.key, copy),
                    None => return copy,
                }
            }
        }
    }
    Value::Null
}

/// The RFC 6901 JSON Pointer of a path.
fn pointer(segments: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in segments {
        out.push('/');
        match seg {
            PathSegment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathSegment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Equality of two values that are not both objects nor both arrays (those are walked).
fn scalars_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        _ => false,
    }
}

/// An integer's exact value (`None` for a float).
fn integer(n: &Number) -> Option<i128> {
    if n.is_f64() {
        return None;
    }
    n.as_u64()
        .map(i128::from)
        .or_else(|| n.as_i64().map(i128::from))
}

/// Numbers by value: integers exactly; an integer and a float only when the float is exactly
/// that integer; two floats as `f64` (`-0.0 == 0.0`).
fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(i), None) => float_is(b.as_f64(), i),
        (None, Some(i)) => float_is(a.as_f64(), i),
        (None, None) => a.as_f64() == b.as_f64(),
    }
}

/// Whether a float is exactly the integer `i` (an integer of `i64` or `u64`).
fn float_is(f: Option<f64>, i: i128) -> bool {
    // 2^64: every integer a `Number` holds is below it, and every integral float whose
    // magnitude is at most it converts to `i128` exactly.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    match f {
        #[allow(clippy::cast_possible_truncation)]
        Some(f) if f.fract() == 0.0 && f.abs() <= LIMIT => f as i128 == i,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn n(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            _ => Number::from(0),
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(numbers_equal(&n(json!(1)), &n(json!(1.0))));
        assert!(numbers_equal(&n(json!(-3.0)), &n(json!(-3))));
        assert!(numbers_equal(&n(json!(0)), &n(json!(-0.0))));
        assert!(numbers_equal(&n(json!(-0.0)), &n(json!(0.0))));
        assert!(!numbers_equal(&n(json!(1)), &n(json!(1.5))));
        assert!(numbers_equal(&n(json!(u64::MAX)), &n(json!(u64::MAX))));
        assert!(!numbers_equal(&n(json!(u64::MAX)), &n(json!(-1))));
        assert!(!numbers_equal(&n(json!(i64::MIN)), &n(json!(u64::MAX))));
        // Exactly, not through f64: 2^53 + 1 is not 2^53.
        let big = 9_007_199_254_740_993_u64;
        assert!(!numbers_equal(&n(json!(big)), &n(json!(big - 1))));
        assert!(!numbers_equal(
            &n(json!(big)),
            &n(json!(9_007_199_254_740_992.0))
        ));
        assert!(numbers_equal(
            &n(json!(big - 1)),
            &n(json!(9_007_199_254_740_992.0))
        ));
        // 2^64 is no u64.
        assert!(!numbers_equal(
            &n(json!(u64::MAX)),
            &n(json!(18_446_744_073_709_551_616.0))
        ));
        assert!(!numbers_equal(&n(json!(1)), &n(json!(1e300))));
    }

    #[test]
    fn deep_clone_copies_exactly() {
        for v in [
            json!(null),
            json!("s"),
            json!([]),
            json!({}),
            json!([[], {}, [[1]]]),
            json!({"z": [1, {"b": [null, "x", {"c": {}}]}], "a": 1.5, "m": {"k": [], "": -0.0}}),
        ] {
            let copy = deep_clone(&v);
            assert_eq!(copy, v);
            // Key order and number representation too.
            assert_eq!(
                serde_json::to_string(&copy).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
    }

    #[test]
    fn pointers_escape() {
        let segs = [
            PathSegment::Key("a/b".into()),
            PathSegment::Index(3),
            PathSegment::Key("~1".into()),
            PathSegment::Key(String::new()),
        ];
        assert_eq!(pointer(&segs), "/a~1b/3/~01/");
        assert_eq!(pointer(&[]), "");
    }
}
