//! Applying `diff_json`'s changes, and comparing JSON values by value.

use asap_state::{Change, ChangeOp, PathSegment};
use serde_json::{Number, Value};

/// Numbers compared by value, as `diff_json` does: integers exactly, an integer equal to a
/// float only when the float is exactly that integer. Objects compare regardless of key order.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// An integer's exact value, `None` for a float: read from its text (a float always prints
/// with a `.` or an exponent), independently of how the core tells them apart.
fn as_int(n: &Number) -> Option<i128> {
    n.to_string().parse().ok()
}

fn number_eq(x: &Number, y: &Number) -> bool {
    match (as_int(x), as_int(y)) {
        (Some(a), Some(b)) => a == b,
        (Some(i), None) | (None, Some(i)) => {
            let f = if as_int(x).is_none() { x } else { y };
            // Floats in this range are exact integers when they have no fraction.
            f.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1.8e19 && f as i128 == i)
        }
        (None, None) => x.as_f64() == y.as_f64(),
    }
}

/// The JSON Pointer (RFC 6901) of `segments`: the oracle the changes' `path` is checked
/// against (written apart from the core's own).
pub fn pointer(segments: &[PathSegment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            PathSegment::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            PathSegment::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// Applies changes one after another (see [`apply_change`]).
pub fn apply_changes(mut doc: Value, changes: &[Change]) -> Value {
    for c in changes {
        apply_change(&mut doc, c);
    }
    doc
}

/// Applies one change to `doc` as the documentation of `diff_json` says — set the value at
/// `path` for `added` / `changed`, delete it for `removed` — and checks its promises on the way
/// (panicking where one is broken): `old` is present unless added, `new` unless removed; the
/// root is only ever changed; every parent on the path exists; an added key is new and a
/// changed one exists; an added array index is the array's current end, a removed one its
/// current last element.
pub fn apply_change(doc: &mut Value, change: &Change) {
    assert_eq!(
        change.old.is_some(),
        change.op != ChangeOp::Added,
        "{change:?}"
    );
    let new = || match (&change.new, change.op) {
        (Some(v), ChangeOp::Added | ChangeOp::Changed) => v.clone(),
        _ => panic!("no new value: {change:?}"),
    };
    let Some((last, parents)) = change.segments.split_last() else {
        assert_eq!(
            change.op,
            ChangeOp::Changed,
            "the root is only changed: {change:?}"
        );
        *doc = new();
        return;
    };
    let mut at = doc;
    for s in parents {
        at = match (s, at) {
            (PathSegment::Key(k), Value::Object(m)) => m
                .get_mut(k)
                .unwrap_or_else(|| panic!("no key {k:?} on the way to {change:?}")),
            (PathSegment::Index(i), Value::Array(a)) => a
                .get_mut(*i)
                .unwrap_or_else(|| panic!("no index {i} on the way to {change:?}")),
            (s, other) => panic!("segment {s:?} does not fit {other} in {change:?}"),
        };
    }
    match (last, at, change.op) {
        (PathSegment::Key(k), Value::Object(m), ChangeOp::Removed) => {
            assert!(change.new.is_none(), "{change:?}");
            assert!(
                m.shift_remove(k).is_some(),
                "removed a missing key: {change:?}"
            );
        }
        (PathSegment::Key(k), Value::Object(m), op) => {
            let had = m.insert(k.clone(), new()).is_some();
            assert_eq!(had, op == ChangeOp::Changed, "{change:?}");
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Removed) => {
            assert!(change.new.is_none(), "{change:?}");
            assert_eq!(
                *i + 1,
                a.len(),
                "an array removal not at the end: {change:?}"
            );
            a.pop();
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Added) => {
            assert_eq!(*i, a.len(), "an array addition not at the end: {change:?}");
            a.push(new());
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Changed) => {
            let slot = a
                .get_mut(*i)
                .unwrap_or_else(|| panic!("changed a missing index: {change:?}"));
            *slot = new();
        }
        (s, other, _) => panic!("segment {s:?} does not fit {other} in {change:?}"),
    }
}
