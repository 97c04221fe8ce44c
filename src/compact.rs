//! The quick pass of `data`'s JSON text into serde_json's compact form.
//!
//! Every save and every read of `data` rewrites its JSON text into the one form serde_json writes
//! (no whitespace, its escapes, its numbers), streamed through serde_json (`DataText::compact`).
//! That stream escapes every string again byte by byte, which at the size-optimised build of the
//! package was a third of a 1 KiB read. Almost all text is already in that form, so this pass
//! checks it and keeps each piece that is already written as serde_json writes it — a string
//! without escapes (found eight bytes at a time), an integer as serde_json writes an i64 or a
//! u64, a float in its shortest plain form — and hands anything else (an escaped string, another
//! float form, a `-0`) to serde_json piece by piece; text with nothing to rewrite is handed back
//! as it is, not copied. Anything it does not recognise as valid (bad syntax, a raw control
//! character, deep nesting, text after the object) is `None`: the streaming path then gives the
//! definitive answer, so the two can only differ in speed. The tests below check that they
//! write the same bytes (proptests over canonical, loosened and pretty-printed text).

use std::borrow::Cow;

use serde_json::Value;

/// Nesting this pass handles itself; deeper text takes the streaming path.
const MAX_FAST_DEPTH: u32 = 64;

/// `text`, one JSON object, in serde_json's compact form: by the quick pass (borrowed when the
/// text already is in that form), else streamed through serde_json. `None` when serde_json
/// refuses the text or it is not one object (the caller then finds the definitive answer,
/// deeper nesting included).
pub(crate) fn compact(text: &str) -> Option<Cow<'_, str>> {
    quick(text).or_else(|| stream(text).map(Cow::Owned))
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

/// The quick pass's output: `text` itself until a piece of it is not in serde_json's form
/// (whitespace, an escaped string, a float written another way); from the first such piece on,
/// a copy, made a run at a time (a run of pieces in that form is copied at once when the next
/// piece that is not, or the end, is reached). Pieces are cut at ASCII bytes, so the copy is a
/// `String` without a check.
struct Out<'t> {
    text: &'t str,
    out: Option<String>,
    /// Where the run not copied yet starts.
    from: usize,
}

impl<'t> Out<'t> {
    /// Replaces `text[start..end]` with `with` (nothing, for whitespace).
    fn replace(&mut self, start: usize, end: usize, with: &str) -> Option<()> {
        let text = self.text;
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(text.get(self.from..start)?);
        out.push_str(with);
        self.from = end;
        Some(())
    }

    /// Whitespace at `i`, if any, dropped; where the next token starts.
    #[inline(always)]
    fn ws(&mut self, i: usize) -> Option<usize> {
        let b = self.text.as_bytes();
        if let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
            let end = skip_ws(b, i);
            self.replace(i, end, "")?;
            return Some(end);
        }
        Some(i)
    }

    /// The text up to `end`: borrowed if nothing was replaced.
    fn finish(self, end: usize) -> Option<Cow<'t, str>> {
        let rest = self.text.get(self.from..end)?;
        Some(match self.out {
            None => Cow::Borrowed(rest),
            Some(mut out) => {
                out.push_str(rest);
                Cow::Owned(out)
            }
        })
    }
}

/// The containers open at a point of the text, one bit each (1 for an object), the innermost
/// in the lowest bit.
struct Stack {
    bits: u64,
    depth: u32,
}

impl Stack {
    fn push(&mut self, object: bool) -> Option<()> {
        if self.depth >= MAX_FAST_DEPTH {
            return None;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth = self.depth.checked_add(1)?;
        Some(())
    }

    fn pop(&mut self) {
        self.bits >>= 1;
        self.depth = self.depth.saturating_sub(1);
    }

    fn in_object(&self) -> bool {
        self.bits & 1 == 1
    }
}

/// The quick pass: `None` for anything it leaves to [`stream`]. One loop reads a value, then
/// the commas and closing brackets after it until the next value (after a key, inside an
/// object) or the end of the outermost object.
pub(crate) fn quick(text: &str) -> Option<Cow<'_, str>> {
    let b = text.as_bytes();
    let mut w = Out {
        text,
        out: None,
        from: 0,
    };
    let mut stack = Stack { bits: 0, depth: 0 };
    let mut i = w.ws(0)?;
    if b.get(i) != Some(&b'{') {
        return None;
    }
    'value: loop {
        i = w.ws(i)?;
        let c = *b.get(i)?;
        i = match c {
            b'{' | b'[' => {
                let object = c == b'{';
                stack.push(object)?;
                i = w.ws(i.checked_add(1)?)?;
                let close = if object { b'}' } else { b']' };
                if b.get(i) != Some(&close) {
                    if object {
                        i = key(&mut w, i)?;
                    }
                    continue 'value;
                }
                stack.pop();
                i.checked_add(1)?
            }
            b'"' => string(&mut w, i)?,
            b't' => literal(b, i, b"true")?,
            b'f' => literal(b, i, b"false")?,
            b'n' => literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => number(&mut w, i)?,
            _ => return None,
        };
        // After a complete value: a comma, or the end of its container.
        while stack.depth > 0 {
            i = w.ws(i)?;
            match (*b.get(i)?, stack.in_object()) {
                (b',', object) => {
                    i = i.checked_add(1)?;
                    if object {
                        i = key(&mut w, i)?;
                    }
                    continue 'value;
                }
                (b'}', true) | (b']', false) => {
                    stack.pop();
                    i = i.checked_add(1)?;
                }
                _ => return None,
            }
        }
        break;
    }
    // Only whitespace may follow the object.
    if skip_ws(b, i) != b.len() {
        return None;
    }
    w.finish(i)
}

/// A key and its colon, from `i` (whitespace before the key allowed): where its value starts.
fn key(w: &mut Out<'_>, i: usize) -> Option<usize> {
    let i = w.ws(i)?;
    if w.text.as_bytes().get(i) != Some(&b'"') {
        return None;
    }
    let end = string(w, i)?;
    let i = w.ws(end)?;
    if w.text.as_bytes().get(i) != Some(&b':') {
        return None;
    }
    i.checked_add(1)
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

/// The high bit of each byte of `w` that is `"`, `\` or below 0x20, by the classic test for a
/// byte below `n`, `(w - n·0x01…) & !w & 0x80…` (a `"` or `\` is a zero byte once `w` is
/// XORed with it; the XOR keeps every high bit, so `!w` serves the three tests). A borrow can
/// mark a byte above (after, read little-endian) a marked one, never before: the lowest mark
/// is exact.
fn specials(w: u64) -> u64 {
    let quote = w ^ ONES.wrapping_mul(u64::from(b'"'));
    let backslash = w ^ ONES.wrapping_mul(u64::from(b'\\'));
    (w.wrapping_sub(ONES.wrapping_mul(0x20))
        | quote.wrapping_sub(ONES)
        | backslash.wrapping_sub(ONES))
        & !w
        & HIGHS
}

/// The first `"`, `\` or control character (below 0x20) at or after `from`: eight bytes at a
/// time, the first one marked found by its bit's position.
#[inline(always)]
pub(crate) fn find_special(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    let mut rest = b.get(from..)?;
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        let marks = specials(u64::from_le_bytes(*chunk));
        if marks != 0 {
            return k.checked_add((marks.trailing_zeros() / 8) as usize);
        }
        k = k.checked_add(8)?;
        rest = tail;
    }
    let at = rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    k.checked_add(at)
}

/// The string token at `i` (its opening quote): kept as is when it has no escape (serde_json
/// writes such a string byte for byte), else decoded and written by serde_json.
#[inline(always)]
fn string(w: &mut Out<'_>, i: usize) -> Option<usize> {
    let b = w.text.as_bytes();
    let first = find_special(b, i.checked_add(1)?)?;
    if b.get(first) == Some(&b'"') {
        return first.checked_add(1);
    }
    escaped_string(w, i, first)
}

/// The rest of [`string`]: the token at `i` whose first `"`, `\` or control character is at
/// `first`, not its end.
#[inline(never)]
fn escaped_string(w: &mut Out<'_>, i: usize, first: usize) -> Option<usize> {
    let text = w.text;
    let b = text.as_bytes();
    match b.get(first)? {
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
/// non-zero digit, no leading zero, an i64 or a u64) is kept; any other number is parsed and
/// written by serde_json.
fn number(w: &mut Out<'_>, i: usize) -> Option<usize> {
    let text = w.text;
    let b = text.as_bytes();
    let negative = b.get(i) == Some(&b'-');
    let start = if negative { i.checked_add(1)? } else { i };
    let mut end = start;
    while let Some(b'0'..=b'9') = b.get(end) {
        end = end.checked_add(1)?;
    }
    if !matches!(b.get(end), Some(b'-' | b'+' | b'.' | b'e' | b'E')) {
        // An integer: digits alone, kept when serde_json reads it as an i64 or a u64.
        let digits = b.get(start..end)?;
        let (max, max_len) = if negative {
            (&b"9223372036854775808"[..], 19)
        } else {
            (&b"18446744073709551615"[..], 20)
        };
        let plain = match digits.first() {
            Some(b'0') => digits.len() == 1 && !negative,
            Some(_) => digits.len() < max_len || (digits.len() == max_len && digits <= max),
            None => false,
        };
        if plain {
            return Some(end);
        }
    }
    while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = b.get(end) {
        end = end.checked_add(1)?;
    }
    if !plain_float(b.get(i..end)?) {
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
        let quick = quick(text).map(Cow::into_owned);
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
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"k":9999999999999999999}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"s":"a long string with no escape at all, longer than eight bytes"}"#,
        ] {
            assert_eq!(agree(text).as_deref(), Some(text), "{text}");
            // Handed back as it is, not copied; text after the object's end is only cut off.
            assert!(
                matches!(quick(text), Some(Cow::Borrowed(t)) if t == text),
                "{text} {:?}",
                quick(text)
            );
            let spaced = format!("{text} \n");
            assert!(matches!(quick(&spaced), Some(Cow::Borrowed(t)) if t == text));
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
            (
                r#"{"a":-9223372036854775809,"b":18446744073709551620}"#,
                r#"{"a":-9.223372036854776e+18,"b":1.8446744073709552e+19}"#,
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
        assert_eq!(compact(&deep).map(Cow::into_owned), stream(&deep));
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
            prop_assert_eq!(compact(&pretty).map(Cow::into_owned), stream(&pretty));
        }

        #[test]
        fn find_special_finds_the_first_quote_backslash_or_control(
            text in "[ -~\\x00-\\x1f\u{80}-\u{10ffff}]{0,40}",
            from in 0usize..48,
        ) {
            let b = text.as_bytes();
            let want = b
                .get(from..)
                .and_then(|rest| rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20))
                .map(|at| from + at);
            prop_assert_eq!(find_special(b, from), want);
        }

        #[test]
        fn arbitrary_text_never_disagrees(text in "\\PC{0,40}", prefix in "[{\"a:1,\\[\\] ]{0,6}") {
            let text = format!("{prefix}{text}");
            let _ = agree(&text);
        }
    }
}
