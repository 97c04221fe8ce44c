//! The quick pass of `data`'s JSON text into serde_json's compact form.
//!
//! Every save and every read of `data` rewrites its JSON text into the one form serde_json writes
//! (no whitespace, its escapes, its numbers), streamed through serde_json (`DataText::compact`).
//! That stream escapes every string again byte by byte, which at the size-optimised build of the
//! package was a third of a 1 KiB read. Almost all text is already in that form, so this pass
//! copies each piece that is already written as serde_json writes it — a string without escapes
//! (found eight bytes at a time), an integer without a sign or a leading zero — and hands anything
//! else (an escaped string, a float, a `-0`) to serde_json piece by piece. Anything it does not
//! recognise as valid (bad syntax, a raw control character, deep nesting, text after the object)
//! is `None`: the streaming path then gives the definitive answer, so the two can only differ in
//! speed. `tests/compact_fast_path.rs` checks that they write the same bytes.

use serde_json::Value;

/// Nesting this pass handles itself; deeper text takes the streaming path.
const MAX_FAST_DEPTH: usize = 64;

/// What the next token must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    FirstValueOrEnd,
    Key,
    FirstKeyOrEnd,
    Colon,
    CommaOrEnd,
    /// The outermost object is closed.
    Done,
}

/// `text`, one JSON object, in serde_json's compact form: by the quick pass, else streamed
/// through serde_json. `None` when serde_json refuses the text or it is not one object (the
/// caller then finds the definitive answer, deeper nesting included).
pub(crate) fn compact(text: &str) -> Option<String> {
    quick(text).or_else(|| stream(text))
}

/// `text` streamed from serde_json's parser to its writer (under its nesting limit of 128).
pub(crate) fn stream(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut de = serde_json::Deserializer::from_str(text);
    let streamed = serde_transcode::transcode(&mut de, &mut serde_json::Serializer::new(&mut out))
        .is_ok()
        && de.end().is_ok()
        && out.first() == Some(&b'{');
    // serde_json writes UTF-8; the check costs a pass only on this slower path.
    if streamed {
        String::from_utf8(out).ok()
    } else {
        None
    }
}

/// The quick pass's output: `text` copied lazily. A run of pieces already in serde_json's form is
/// copied at once, when a piece that is not (whitespace, an escaped string, a float) or the end
/// is reached, so text that is all in that form is one copy (it was a push per token: a third of
/// a 64 KiB read). Pieces are cut at ASCII bytes, so the output is a `String` without a check.
struct Out<'t> {
    text: &'t str,
    out: String,
    /// Where the run not copied yet starts.
    from: usize,
}

impl Out<'_> {
    /// Copies the pending run up to `at`.
    fn flush(&mut self, at: usize) -> Option<()> {
        self.out.push_str(self.text.get(self.from..at)?);
        Some(())
    }

    /// Replaces `text[start..end]` with `with` (nothing, for whitespace).
    fn replace(&mut self, start: usize, end: usize, with: &str) -> Option<()> {
        self.flush(start)?;
        self.out.push_str(with);
        self.from = end;
        Some(())
    }
}

/// The quick pass: `None` for anything it leaves to [`stream`].
pub(crate) fn quick(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut w = Out {
        text,
        out: String::with_capacity(b.len()),
        from: 0,
    };
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0;
    if b.get(skip_ws(b, 0)) != Some(&b'{') {
        return None;
    }
    let mut expect = Expect::Value;
    while expect != Expect::Done {
        let next = skip_ws(b, i);
        if next != i {
            w.replace(i, next, "")?;
            i = next;
        }
        let c = *b.get(i)?;
        // A closing bracket, where a container may end, closes the innermost one if it is its own.
        let may_close = matches!(
            expect,
            Expect::FirstValueOrEnd | Expect::FirstKeyOrEnd | Expect::CommaOrEnd
        );
        if may_close && matches!((c, stack.last()), (b'}', Some(b'{')) | (b']', Some(b'['))) {
            stack.pop();
            i = i.checked_add(1)?;
            expect = after_value(&stack);
            continue;
        }
        expect = match expect {
            Expect::Value | Expect::FirstValueOrEnd => match c {
                b'{' | b'[' => {
                    if stack.len() >= MAX_FAST_DEPTH {
                        return None;
                    }
                    stack.push(c);
                    i = i.checked_add(1)?;
                    if c == b'{' {
                        Expect::FirstKeyOrEnd
                    } else {
                        Expect::FirstValueOrEnd
                    }
                }
                _ => {
                    i = match c {
                        b'"' => string(&mut w, i)?,
                        b't' => literal(b, i, b"true")?,
                        b'f' => literal(b, i, b"false")?,
                        b'n' => literal(b, i, b"null")?,
                        b'-' | b'0'..=b'9' => number(&mut w, i)?,
                        _ => return None,
                    };
                    after_value(&stack)
                }
            },
            Expect::Key | Expect::FirstKeyOrEnd => {
                if c != b'"' {
                    return None;
                }
                i = string(&mut w, i)?;
                Expect::Colon
            }
            Expect::Colon => {
                if c != b':' {
                    return None;
                }
                i = i.checked_add(1)?;
                Expect::Value
            }
            Expect::CommaOrEnd => {
                if c != b',' {
                    return None;
                }
                i = i.checked_add(1)?;
                if stack.last() == Some(&b'{') {
                    Expect::Key
                } else {
                    Expect::Value
                }
            }
            Expect::Done => return None,
        };
    }
    // Only whitespace may follow the object.
    if skip_ws(b, i) != b.len() {
        return None;
    }
    w.flush(i)?;
    Some(w.out)
}

/// What follows a complete value: the end, when it closed the outermost object.
fn after_value(stack: &[u8]) -> Expect {
    if stack.is_empty() {
        Expect::Done
    } else {
        Expect::CommaOrEnd
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i = i.saturating_add(1);
    }
    i
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let end = i.checked_add(word.len())?;
    if b.get(i..end)? != word {
        return None;
    }
    Some(end)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is zero (exact, the classic `(w - 0x01…) & !w & 0x80…` test).
fn has_zero_byte(w: u64) -> bool {
    w.wrapping_sub(ONES) & !w & HIGHS != 0
}

/// The first `"`, `\` or control character (below 0x20) at or after `from`.
pub(crate) fn find_special(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    while let Some(chunk) = k.checked_add(8).and_then(|end| b.get(k..end)) {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        let control = w.wrapping_sub(ONES.wrapping_mul(0x20)) & !w & HIGHS != 0;
        if control
            || has_zero_byte(w ^ ONES.wrapping_mul(u64::from(b'"')))
            || has_zero_byte(w ^ ONES.wrapping_mul(u64::from(b'\\')))
        {
            break;
        }
        k = k.checked_add(8)?;
    }
    while let Some(&c) = b.get(k) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some(k);
        }
        k = k.checked_add(1)?;
    }
    None
}

/// The string token at `i` (its opening quote): kept as is when it has no escape (serde_json
/// writes such a string byte for byte), else decoded and written by serde_json.
fn string(w: &mut Out<'_>, i: usize) -> Option<usize> {
    let text = w.text;
    let b = text.as_bytes();
    let first = find_special(b, i.checked_add(1)?)?;
    match b.get(first)? {
        b'"' => first.checked_add(1),
        b'\\' => {
            // Find the closing quote (an escape's second byte is never the end), then let
            // serde_json decode the token and write it in its own form.
            let mut k = first;
            loop {
                match b.get(k)? {
                    b'\\' => k = k.checked_add(2)?,
                    b'"' => break,
                    c if *c < 0x20 => return None,
                    _ => k = k.checked_add(1)?,
                }
            }
            let end = k.checked_add(1)?;
            let decoded: String = serde_json::from_str(text.get(i..end)?).ok()?;
            w.replace(i, end, &serde_json::to_string(&decoded).ok()?)?;
            Some(end)
        }
        // A raw control character: serde_json refuses it; the streaming path says why.
        _ => None,
    }
}

/// The number token at `i`: an integer serde_json writes as it is (no sign but `-` before a
/// non-zero digit, no leading zero, within 64 bits) is kept; any other number is parsed and
/// written by serde_json.
fn number(w: &mut Out<'_>, i: usize) -> Option<usize> {
    let text = w.text;
    let b = text.as_bytes();
    let mut end = i;
    while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(end) {
        end = end.checked_add(1)?;
    }
    let token = b.get(i..end)?;
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    let plain = digits.iter().all(u8::is_ascii_digit)
        && match digits.first() {
            Some(b'0') => digits.len() == 1 && !negative,
            Some(_) => digits.len() <= if negative { 18 } else { 19 },
            None => false,
        };
    if !plain && !plain_float(token) {
        let value: Value = serde_json::from_str(text.get(i..end)?).ok()?;
        if !value.is_number() {
            return None;
        }
        w.replace(i, end, &serde_json::to_string(&value).ok()?)?;
    }
    Some(end)
}

/// Whether `token` is a float exactly as serde_json writes it, known without parsing it: a
/// plain decimal `-?D.F` (no exponent) from 1e-5 to below 1e16 (where serde_json writes no
/// exponent), with at most 15 significant digits and no trailing zero after the point (but
/// `D.0` for an integral value). A decimal of at most 15 significant digits survives the trip
/// to a double and back, so no other decimal of as few digits names the same double: it is the
/// shortest form, the one serde_json writes. (Formatting every float again cost a tenth of a
/// 64 KiB read.) Anything else is parsed and written by serde_json.
fn plain_float(token: &[u8]) -> bool {
    let digits = match token.split_first() {
        Some((b'-', rest)) => rest,
        _ => token,
    };
    let Some(point) = digits.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (int, frac) = (digits.get(..point), digits.get(point.saturating_add(1)..));
    let (Some(int), Some(frac)) = (int, frac) else {
        return false;
    };
    if int.is_empty()
        || frac.is_empty()
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
        || (int.len() > 1 && int.first() == Some(&b'0'))
    {
        return false;
    }
    let integral = frac == b"0";
    if frac.last() == Some(&b'0') && !integral {
        return false;
    }
    if int == b"0" {
        // 0.F: at least 1e-5 means at most four zeros before the first significant digit.
        let zeros = frac.iter().take_while(|&&c| c == b'0').count();
        return !integral && zeros <= 4 && frac.len().saturating_sub(zeros) <= 15;
    }
    if int.len() > 16 {
        return false; // 1e16 and above are written with an exponent
    }
    // Significant digits: from the first digit to the last non-zero one.
    let all = int
        .len()
        .saturating_add(if integral { 0 } else { frac.len() });
    let trailing = if integral {
        int.iter().rev().take_while(|&&c| c == b'0').count()
    } else {
        0
    };
    all.saturating_sub(trailing) <= 15
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The quick pass writes what the stream writes, or leaves the text to it.
    fn agree(text: &str) -> Option<String> {
        let quick = quick(text);
        if let Some(q) = &quick {
            assert_eq!(Some(q), stream(text).as_ref(), "{text:?}");
        }
        quick
    }

    #[test]
    fn plain_floats_are_recognised_only_as_serde_json_writes_them() {
        for yes in [
            "0.5",
            "-0.25",
            "100.0",
            "1234.5",
            "0.00001",
            "0.000015",
            "1000000000000000.0",
            "123456789012345.0",
            "12345678901234.5",
            "0.123456789012345",
            "-1.0",
        ] {
            assert!(plain_float(yes.as_bytes()), "{yes}");
            let v: f64 = serde_json::from_str(yes).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), yes);
        }
        for no in [
            "0.0",
            "-0.0",
            "1.50",
            "01.5",
            "1.",
            ".5",
            "1e5",
            "1.5e-7",
            "0.000001",
            "-",
            "10000000000000000.0",
            "0.30000000000000004",
            "1234567890123456.0",
            "1.2.3",
            "1-2.5",
            "9007199254740993.0",
            "0.1234567890123456",
        ] {
            assert!(!plain_float(no.as_bytes()), "{no}");
        }
    }

    proptest! {
        /// What the check recognises is exactly what serde_json writes for the value it names.
        #[test]
        fn a_recognised_float_is_what_serde_json_writes(
            negative in any::<bool>(),
            int in "(0|[1-9][0-9]{0,17})",
            frac in "[0-9]{1,19}",
        ) {
            let token = format!("{}{int}.{frac}", if negative { "-" } else { "" });
            if plain_float(token.as_bytes()) {
                let v: f64 = serde_json::from_str(&token).unwrap();
                prop_assert_eq!(serde_json::to_string(&v).unwrap(), token);
            }
        }

        /// And what serde_json writes for a double in the plain range is recognised when it
        /// has at most 15 significant digits.
        #[test]
        fn serde_json_floats_with_few_digits_are_recognised(mantissa in 1u64..1_000_000_000_000_000, exp in -20i32..2) {
            let v = mantissa as f64 * 10f64.powi(exp);
            let text = serde_json::to_string(&v).unwrap();
            let recognised = plain_float(text.as_bytes());
            if (1e-5..1e16).contains(&v) && !text.contains('e') {
                let significant = text.trim_start_matches(['0', '.']).replace('.', "");
                let significant = significant.trim_end_matches('0');
                prop_assert_eq!(recognised, significant.len() <= 15, "{}", text);
            } else {
                prop_assert!(!recognised, "{}", text);
            }
        }
    }

    #[test]
    fn canonical_text_is_copied_as_is() {
        for text in [
            "{}",
            r#"{"a":1}"#,
            r#"{"a":[1,-2,0,true,false,null,"x",{}],"b":{"c":[]}}"#,
            "{\"ünï©ødé 漢字 😀\":\"\u{7f} é\"}",
            r#"{"n":18446744073709551615,"m":-999999999999999999}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"s":"a long string with no escape at all, longer than eight bytes"}"#,
        ] {
            assert_eq!(agree(text).as_deref(), Some(text), "{text}");
        }
    }

    #[test]
    fn other_forms_are_rewritten_as_serde_json_writes_them() {
        for (text, want) in [
            (" {\n\t\"a\" : 1 ,\r\"b\":[ ] } \n", r#"{"a":1,"b":[]}"#),
            (r#"{"a":-0}"#, r#"{"a":-0.0}"#),
            (
                r#"{"a":1e2,"b":0.5,"c":1.0E-2}"#,
                r#"{"a":100.0,"b":0.5,"c":0.01}"#,
            ),
            (
                r#"{"a":18446744073709551616}"#,
                r#"{"a":1.8446744073709552e+19}"#,
            ),
            (r#"{"a":"\u007f"}"#, "{\"a\":\"\u{7f}\"}"),
            (
                r#"{"a":"\u0041\/\"\\\n\u001f"}"#,
                r#"{"a":"A/\"\\\n\u001f"}"#,
            ),
            (r#"{"\u00e9":"x"}"#, r#"{"é":"x"}"#),
        ] {
            assert_eq!(agree(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn what_it_does_not_recognise_is_left_to_the_stream() {
        let deep = format!("{{\"k\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        for text in [
            "",
            "[]",
            "1",
            "{",
            "{}x",
            "{} {}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1}"#,
            r#"{"a":{]}"#,
            r#"{,"a":1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":1e400}"#,
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            "{\"a\":\"raw\u{1}control\"}",
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":1 "b":2}"#,
            deep.as_str(),
        ] {
            assert_eq!(agree(text), None, "{text:?}");
        }
        // The stream still takes what the quick pass leaves (here: nesting past 64).
        assert!(stream(&deep).is_some());
        assert_eq!(compact(&deep), stream(&deep));
    }

    /// JSON values, objects at the top.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("\\PC{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// `text` with whitespace between tokens and some characters of strings escaped, as
    /// another writer (Python's json, a person) might have written it.
    fn loosen(text: &str, seed: u64) -> String {
        let mut out = String::new();
        let mut in_string = false;
        let mut escaped = false;
        let mut n = seed;
        for c in text.chars() {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let roll = (n >> 33) % 8;
            if in_string {
                if escaped {
                    escaped = false;
                    out.push(c);
                } else if c == '\\' {
                    escaped = true;
                    out.push(c);
                } else if c == '"' {
                    in_string = false;
                    out.push(c);
                } else if roll == 0 && (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push(c);
                }
            } else {
                // Whitespace only around the structural characters (never inside a number).
                let structural = matches!(c, '{' | '}' | '[' | ']' | ':' | ',');
                if c == '"' {
                    in_string = true;
                }
                if structural && roll == 1 {
                    out.push_str(" \n");
                }
                out.push(c);
                if structural && roll == 2 {
                    out.push('\t');
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn quick_and_stream_write_the_same_bytes(
            entries in prop::collection::vec(("\\PC{0,8}", value()), 0..8),
            seed in any::<u64>(),
        ) {
            let object = Value::Object(entries.into_iter().collect());
            let canonical = serde_json::to_string(&object).unwrap();
            // Canonical text: the quick pass takes it, unchanged.
            prop_assert_eq!(agree(&canonical), Some(canonical.clone()));
            // Loosened text: the quick pass writes the stream's bytes, the canonical text.
            let loose = loosen(&canonical, seed);
            prop_assert_eq!(agree(&loose), Some(canonical.clone()));
            // Pretty-printed (Python's indent=2 style).
            let pretty = serde_json::to_string_pretty(&object).unwrap();
            prop_assert_eq!(compact(&pretty), stream(&pretty));
        }

        #[test]
        fn arbitrary_text_never_disagrees(text in "\\PC{0,40}", prefix in "[{\"a:1,\\[\\] ]{0,6}") {
            let text = format!("{prefix}{text}");
            let _ = agree(&text);
        }
    }
}
