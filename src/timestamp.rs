//! UTC instants with microsecond precision, printed exactly as the Python reference prints them.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Result, StateError};
use crate::json::describe;

/// A UTC instant with microsecond precision (Python's `datetime` precision), from
/// `0001-01-01T00:00:00+00:00` to `9999-12-31T23:59:59.999999+00:00`.
///
/// Its text form is what Python's `datetime.isoformat()` prints for an aware UTC datetime:
/// `YYYY-MM-DDTHH:MM:SS+00:00`, with `.ffffff` before the offset only when the microseconds are
/// non-zero. Because every stored timestamp uses this one form, text order equals time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

/// Microseconds since the Unix epoch of `0001-01-01T00:00:00Z`.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
/// Microseconds since the Unix epoch of `9999-12-31T23:59:59.999999Z`.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// The unit of a [`crate::MeteringStore::series`] bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSize {
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
}

impl BucketSize {
    fn micros(self) -> i64 {
        match self {
            BucketSize::Hour => 3_600_000_000,
            BucketSize::Day => 86_400_000_000,
        }
    }
}

impl Timestamp {
    /// The earliest representable instant, `0001-01-01T00:00:00+00:00`.
    pub const MIN: Timestamp = Timestamp { micros: MIN_MICROS };
    /// The latest representable instant, `9999-12-31T23:59:59.999999+00:00`.
    pub const MAX: Timestamp = Timestamp { micros: MAX_MICROS };

    /// From microseconds since the Unix epoch.
    pub fn from_micros(micros: i64) -> Result<Timestamp> {
        if (MIN_MICROS..=MAX_MICROS).contains(&micros) {
            Ok(Timestamp { micros })
        } else {
            Err(StateError::InvalidTimestamp(format!(
                "timestamp {micros} µs since the epoch is outside years 1..9999"
            )))
        }
    }

    /// From milliseconds since the Unix epoch (what JavaScript's `Date.now()` gives).
    pub fn from_millis(millis: i64) -> Result<Timestamp> {
        match millis.checked_mul(1000) {
            Some(micros) if (MIN_MICROS..=MAX_MICROS).contains(&micros) => Ok(Timestamp { micros }),
            _ => Err(StateError::InvalidTimestamp(format!(
                "timestamp {millis} ms since the epoch is outside years 1..9999"
            ))),
        }
    }

    /// From a chrono UTC datetime (nanoseconds below the microsecond are truncated).
    pub fn from_datetime(dt: DateTime<Utc>) -> Result<Timestamp> {
        Timestamp::from_micros(dt.timestamp_micros())
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.micros
    }

    /// Milliseconds since the Unix epoch (rounded down).
    pub fn as_millis(self) -> i64 {
        self.micros.div_euclid(1000)
    }

    /// As a chrono UTC datetime.
    pub fn to_datetime(self) -> DateTime<Utc> {
        // In range by construction; the fallback is never taken.
        DateTime::from_timestamp_micros(self.micros).unwrap_or_default()
    }

    /// The current time of the system clock.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(Utc::now()).unwrap_or(Timestamp { micros: 0 })
    }

    /// Parses user input strictly: an ISO 8601 / RFC 3339 date-time **with** an offset
    /// (`Z` or `±hh:mm`), converted to UTC. Text without an offset is rejected, because the
    /// instant it means is ambiguous. Digits below the microsecond are truncated, as Python does.
    ///
    /// `field` names the input in the error message.
    ///
    /// ```
    /// use asap_state::Timestamp;
    /// let t = Timestamp::parse("2025-02-08T09:00:00-03:00", "created_at").unwrap();
    /// assert_eq!(t.to_string(), "2025-02-08T12:00:00+00:00");
    /// let err = Timestamp::parse("2025-02-08T12:00:00", "created_at").unwrap_err();
    /// assert_eq!(err.code(), "INVALID_TIMESTAMP");
    /// ```
    pub fn parse(text: &str, field: &str) -> Result<Timestamp> {
        let trimmed = text.trim();
        // The form every stored timestamp has: no format scanner needed.
        if let Some(t) = parse_written(trimmed) {
            return Ok(t);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(trimmed) {
            if dt.nanosecond() >= 1_000_000_000 {
                return Err(StateError::InvalidTimestamp(format!(
                    "{field}: {trimmed:?} is a leap second, which Python and JavaScript do not represent"
                )));
            }
            return Timestamp::from_datetime(dt.with_timezone(&Utc)).map_err(|_| {
                StateError::InvalidTimestamp(format!(
                    "{field}: {trimmed:?} is outside years 1..9999"
                ))
            });
        }
        if parse_naive(trimmed).is_some() {
            return Err(StateError::InvalidTimestamp(format!(
                "{field}: {trimmed:?} has no UTC offset; add 'Z' or an offset such as '+00:00'"
            )));
        }
        Err(StateError::InvalidTimestamp(format!(
            "{field}: {trimmed:?} is not an ISO 8601 date-time with an offset \
             (expected e.g. \"2025-02-08T12:00:00Z\")"
        )))
    }

    /// Parses text read from a file written elsewhere: accepts everything [`Timestamp::parse`]
    /// accepts, and offset-less text, which is taken as UTC.
    pub fn parse_lenient(text: &str, field: &str) -> Result<Timestamp> {
        match Timestamp::parse(text, field) {
            Ok(t) => Ok(t),
            Err(err) => match parse_naive(text.trim()) {
                Some(naive) => Timestamp::from_datetime(naive.and_utc()),
                None => Err(err),
            },
        }
    }

    /// Reads a timestamp from a JSON input value: a string with an offset, or an integer number
    /// of milliseconds since the Unix epoch (what a JavaScript `Date` converts to).
    pub fn from_json(value: &Value, field: &str) -> Result<Timestamp> {
        match value {
            Value::String(s) => Timestamp::parse(s, field),
            Value::Number(n) => match n.as_i64() {
                Some(ms) => Timestamp::from_millis(ms).map_err(|_| {
                    StateError::InvalidTimestamp(format!(
                        "{field}: {ms} ms since the epoch is outside years 1..9999"
                    ))
                }),
                None => Err(StateError::InvalidTimestamp(format!(
                    "{field}: epoch milliseconds must be an integer, got {n}"
                ))),
            },
            other => Err(StateError::InvalidTimestamp(format!(
                "{field}: expected an ISO 8601 string with an offset, a Date or epoch milliseconds, got {}",
                describe(other)
            ))),
        }
    }

    /// The start of the UTC hour or day holding this instant.
    pub fn floor(self, size: BucketSize) -> Timestamp {
        let unit = size.micros();
        let rem = self.micros.rem_euclid(unit);
        // `rem` is in 0..unit and MIN_MICROS is a whole day, so this stays in range.
        Timestamp {
            micros: self.micros.saturating_sub(rem),
        }
    }
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
}

/// The text this library writes (`YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, [`Timestamp::push_iso`]),
/// read by position instead of chrono's format scanner (which was a tenth of a metering
/// `series`); `None` for any other text, which [`Timestamp::parse`] reads as before. Wherever it
/// answers, it answers what the scanner does (tested): the date and time are checked by chrono
/// (month lengths, leap years, no second 60), and an instant outside years 1..9999 is left to
/// the full path for its message.
fn parse_written(text: &str) -> Option<Timestamp> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &c| {
            let d = c.checked_sub(b'0').filter(|d| *d <= 9)?;
            n.checked_mul(10)?.checked_add(u32::from(d))
        })
    }
    let (main, rest) = text.as_bytes().split_at_checked(19)?;
    let micros = match rest {
        b"+00:00" => 0,
        [b'.', fraction @ .., b'+', b'0', b'0', b':', b'0', b'0'] if fraction.len() == 6 => {
            number(fraction)?
        }
        _ => return None,
    };
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1] =
        main
    else {
        return None;
    };
    let year = i32::try_from(number(&[y0, y1, y2, y3])?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, number(&[m0, m1])?, number(&[d0, d1])?)?;
    let at = date.and_hms_micro_opt(
        number(&[h0, h1])?,
        number(&[i0, i1])?,
        number(&[s0, s1])?,
        micros,
    )?;
    Timestamp::from_datetime(at.and_utc()).ok()
}

impl Timestamp {
    /// Reads a stored timestamp as [`Timestamp::parse_lenient`] does, and says whether `text` is
    /// exactly what [`Timestamp::push_iso`] writes for it (a reader may then copy the text
    /// instead of writing it again). The text is read once either way.
    pub(crate) fn parse_stored(text: &str, field: &str) -> Result<(Timestamp, bool)> {
        match parse_written(text) {
            // The one form `parse_written` accepts that this library does not write: zero
            // microseconds spelled out (Python's isoformat leaves them out).
            Some(at) => Ok((at, !text.ends_with(".000000+00:00"))),
            None => Timestamp::parse_lenient(text, field).map(|at| (at, false)),
        }
    }

    /// The text [`Display`](fmt::Display) writes, without going through a formatter (the SQL
    /// store binds it on every write).
    pub fn iso(self) -> String {
        let mut text = String::with_capacity(32);
        self.push_iso(&mut text);
        text
    }

    /// Appends the text [`Display`](fmt::Display) writes (`2025-02-08T12:00:00[.ffffff]+00:00`).
    /// Digit by digit into a buffer: through `write!` it was a third of the time of a metering
    /// query's answer (100 events) in the size-optimised wasm.
    pub fn push_iso(self, out: &mut String) {
        let dt = self.to_datetime();
        // Years are 1..=9999 by construction; every field fits its width.
        let mut buf = *b"0000-00-00T00:00:00.000000";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for k in (0..width).rev() {
                if let Some(b) = buf.get_mut(at.saturating_add(k)) {
                    *b = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
                }
                n /= 10;
            }
        };
        put(0, 4, u32::try_from(dt.year()).unwrap_or(0));
        put(5, 2, dt.month());
        put(8, 2, dt.day());
        put(11, 2, dt.hour());
        put(14, 2, dt.minute());
        put(17, 2, dt.second());
        let micros = dt.nanosecond() / 1000;
        put(20, 6, micros);
        // Without a fraction when it is zero, as Python's isoformat.
        let end = if micros == 0 { 19 } else { 26 };
        out.push_str(std::str::from_utf8(buf.get(..end).unwrap_or_default()).unwrap_or_default());
        out.push_str("+00:00");
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iso())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `Timestamp::parse` answered before the positional reader: chrono's RFC 3339 scanner.
    fn scanned(text: &str) -> Option<Timestamp> {
        let dt = DateTime::parse_from_rfc3339(text).ok()?;
        (dt.nanosecond() < 1_000_000_000)
            .then(|| Timestamp::from_datetime(dt.with_timezone(&Utc)).ok())
            .flatten()
    }

    proptest! {
        #[test]
        fn written_text_is_read_by_position_as_the_scanner_reads_it(
            micros in MIN_MICROS..=MAX_MICROS,
        ) {
            let t = Timestamp::from_micros(micros).unwrap();
            let text = t.iso();
            prop_assert_eq!(parse_written(&text), Some(t));
            prop_assert_eq!(scanned(&text), Some(t));
        }

        #[test]
        fn canonical_text_is_exactly_what_push_iso_writes(micros in MIN_MICROS..=MAX_MICROS) {
            let t = Timestamp::from_micros(micros).unwrap();
            prop_assert_eq!(Timestamp::parse_stored(&t.iso(), "t").ok(), Some((t, true)));
            // Zero microseconds spelled out read as the same instant, but not as canonical.
            let whole = Timestamp::from_micros(micros - micros.rem_euclid(1_000_000)).unwrap();
            let spelled = whole.iso().replace("+00:00", ".000000+00:00");
            prop_assert_eq!(Timestamp::parse_stored(&spelled, "t").ok(), Some((whole, false)));
            prop_assert_eq!(Timestamp::parse(&spelled, "t").ok(), Some(whole));
            // Other text: what the lenient reader answers, never canonical.
            let offset = whole.iso().replace("+00:00", "Z");
            prop_assert_eq!(Timestamp::parse_stored(&offset, "t").ok(), Some((whole, false)));
        }

        #[test]
        fn the_positional_reader_never_answers_otherwise_than_the_scanner(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{6})?\\+00:00",
        ) {
            if let Some(t) = parse_written(&text) {
                prop_assert_eq!(scanned(&text), Some(t));
            }
        }
    }

    #[test]
    fn the_positional_reader_leaves_other_text_to_the_scanner() {
        let cases = [
            ("2024-02-29T23:59:59.999999+00:00", true),
            ("2025-02-08T12:00:00+00:00", true),
            ("2025-02-08T12:00:00.000000+00:00", true),
            ("0001-01-01T00:00:00+00:00", true),
            ("9999-12-31T23:59:59.999999+00:00", true),
            ("2023-02-29T00:00:00+00:00", false),
            ("2025-04-31T00:00:00+00:00", false),
            ("2025-13-01T00:00:00+00:00", false),
            ("2025-00-01T00:00:00+00:00", false),
            ("2025-01-01T24:00:00+00:00", false),
            ("2025-01-01T23:60:00+00:00", false),
            ("2016-12-31T23:59:60+00:00", false),
            ("0000-01-01T00:00:00+00:00", false),
            ("2025-01-01T00:00:00Z", false),
            ("2025-01-01T00:00:00+01:00", false),
            ("2025-01-01T00:00:00.12345+00:00", false),
            ("2025-01-01T00:00:00.1234567+00:00", false),
            ("2025-01-01 00:00:00+00:00", false),
            ("2025-01-01T00:00:0a+00:00", false),
            ("+025-01-01T00:00:00+00:00", false),
            ("2025-01-01T00:00:00+00:00 ", false),
            ("", false),
        ];
        for (text, positional) in cases {
            let got = parse_written(text);
            assert_eq!(got.is_some(), positional, "{text}");
            if let Some(t) = got {
                assert_eq!(scanned(text), Some(t), "{text}");
            }
            // And `parse` answers as the scanner did, whichever path reads it.
            let trimmed = text.trim();
            assert_eq!(Timestamp::parse(text, "t").ok(), scanned(trimmed), "{text}");
        }
    }

    #[test]
    fn prints_like_python_isoformat() {
        let t = Timestamp::parse("2025-02-08T12:00:00Z", "t").unwrap();
        assert_eq!(t.to_string(), "2025-02-08T12:00:00+00:00");
        let t = Timestamp::parse("2025-02-08T12:00:00.5Z", "t").unwrap();
        assert_eq!(t.to_string(), "2025-02-08T12:00:00.500000+00:00");
        assert_eq!(t.iso(), t.to_string());
        let t = Timestamp::parse("2025-02-08T12:00:00.1234567+01:00", "t").unwrap();
        assert_eq!(t.to_string(), "2025-02-08T11:00:00.123456+00:00");
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00+00:00");
        assert_eq!(
            Timestamp::MAX.to_string(),
            "9999-12-31T23:59:59.999999+00:00"
        );
    }

    #[test]
    fn the_digit_writer_prints_what_the_formatter_did() {
        let reference = |t: Timestamp| {
            let dt = t.to_datetime();
            let micros = dt.nanosecond() / 1000;
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}+00:00",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                if micros == 0 {
                    String::new()
                } else {
                    format!(".{micros:06}")
                }
            )
        };
        let mut micros = MIN_MICROS;
        // Across the whole range, with and without fractions, in uneven steps.
        while micros < MAX_MICROS {
            let t = Timestamp { micros };
            assert_eq!(t.to_string(), reference(t));
            micros = micros.saturating_add(7_777_777_777_777 + micros.rem_euclid(1_000_003));
        }
        for t in [
            Timestamp::MIN,
            Timestamp::MAX,
            Timestamp { micros: 0 },
            Timestamp { micros: 1 },
        ] {
            assert_eq!(t.to_string(), reference(t));
        }
    }

    #[test]
    fn rejects_naive_and_malformed() {
        for bad in [
            "2025-02-08T12:00:00",
            "2025-02-08 12:00:00.25",
            "2025-02-08T12:00",
        ] {
            let e = Timestamp::parse(bad, "created_at").unwrap_err();
            assert_eq!(e.code(), "INVALID_TIMESTAMP");
            assert!(e.message().contains("no UTC offset"), "{e}");
            assert!(e.message().starts_with("created_at"), "{e}");
        }
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
        ] {
            let e = Timestamp::parse(bad, "ts").unwrap_err();
            assert!(e.message().contains("not an ISO 8601"), "{e}");
        }
        assert_eq!(
            Timestamp::parse_lenient("2025-02-08T12:00:00", "t")
                .unwrap()
                .to_string(),
            "2025-02-08T12:00:00+00:00"
        );
        assert!(Timestamp::parse_lenient("nope", "t").is_err());
    }

    #[test]
    fn json_inputs() {
        let t = Timestamp::from_json(&serde_json::json!(0), "t").unwrap();
        assert_eq!(t.to_string(), "1970-01-01T00:00:00+00:00");
        let t = Timestamp::from_json(&serde_json::json!(-1), "t").unwrap();
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999000+00:00");
        assert_eq!(t.as_millis(), -1);
        for bad in [
            serde_json::json!(1.5),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!(9_000_000_000_000_000i64),
            serde_json::json!(i64::MAX),
        ] {
            assert_eq!(
                Timestamp::from_json(&bad, "t").unwrap_err().code(),
                "INVALID_TIMESTAMP"
            );
        }
        assert!(Timestamp::from_micros(MAX_MICROS + 1).is_err());
        assert!(Timestamp::parse("10000-01-01T00:00:00Z", "t").is_err());
    }

    #[test]
    fn floors_to_buckets() {
        let t = Timestamp::parse("2025-02-08T12:34:56.789Z", "t").unwrap();
        assert_eq!(
            t.floor(BucketSize::Hour).to_string(),
            "2025-02-08T12:00:00+00:00"
        );
        assert_eq!(
            t.floor(BucketSize::Day).to_string(),
            "2025-02-08T00:00:00+00:00"
        );
        let t = Timestamp::parse("1969-12-31T23:30:00Z", "t").unwrap();
        assert_eq!(
            t.floor(BucketSize::Day).to_string(),
            "1969-12-31T00:00:00+00:00"
        );
        assert_eq!(Timestamp::MIN.floor(BucketSize::Day), Timestamp::MIN);
    }
}
