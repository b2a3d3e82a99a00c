//! The scalar values of a profile: each read with its path, a wrong type
//! reported with what was found and how to fix it.

use serde_norway::Value;

use crate::error::Report;
use crate::FrameRate;

/// A short description of a value for "found ..." messages.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if s.chars().count() > 40 { "..." } else { "" };
            format!("the string {shown:?}{more}")
        }
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn wrong(value: &Value, path: &str, expected: &str, fix: &str, report: &mut Report) {
    report.push(
        path,
        format!("expected {expected}, found {}", describe(value)),
        fix,
    );
}

pub(super) fn string(value: &Value, path: &str, report: &mut Report) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        // `name: 720p` is a string already; `name: 1080` is a number a producer
        // surely meant as text: accept plain numbers as text.
        Value::Number(n) => Some(n.to_string()),
        other => {
            wrong(
                other,
                path,
                "a string",
                "write a plain word, quoted if it contains `:` or `#`",
                report,
            );
            None
        }
    }
}

pub(super) fn boolean(value: &Value, path: &str, report: &mut Report) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        other => {
            wrong(
                other,
                path,
                "true or false",
                "write true or false (yes/no/on/off are not booleans in YAML 1.2)",
                report,
            );
            None
        }
    }
}

pub(super) fn list<'a>(value: &'a Value, path: &str, report: &mut Report) -> Option<&'a [Value]> {
    match value {
        Value::Sequence(items) => Some(items),
        other => {
            wrong(
                other,
                path,
                "a list of renditions",
                "write each rendition as a `- name: ...` item",
                report,
            );
            None
        }
    }
}

pub(super) fn seconds(value: &Value, path: &str, report: &mut Report) -> Option<f64> {
    match value.as_f64() {
        Some(s) if value.is_number() => Some(s),
        _ => {
            wrong(
                value,
                path,
                "a number of seconds",
                "write a plain number like 4 (no unit)",
                report,
            );
            None
        }
    }
}

pub(super) fn whole(value: &Value, path: &str, expected: &str, report: &mut Report) -> Option<u64> {
    match value.as_u64() {
        Some(n) => Some(n),
        None => {
            wrong(
                value,
                path,
                expected,
                "write a whole positive number",
                report,
            );
            None
        }
    }
}

pub(super) fn pixels(value: &Value, path: &str, report: &mut Report) -> Option<u64> {
    whole(value, path, "a whole number of pixels", report)
}

pub(super) fn frame_rate(value: &Value, path: &str, report: &mut Report) -> Option<FrameRate> {
    match value {
        Value::String(s) if s == "source" => Some(FrameRate::Source),
        Value::Number(n) => match n.as_f64() {
            Some(f) => Some(FrameRate::Fixed(f)),
            None => {
                wrong(
                    value,
                    path,
                    "`source` or frames per second",
                    "write `source`, or a number like 30 or 29.97",
                    report,
                );
                None
            }
        },
        other => {
            wrong(
                other,
                path,
                "`source` or frames per second",
                "write `source`, or a number like 30 or 29.97",
                report,
            );
            None
        }
    }
}

pub(super) fn level(value: &Value, path: &str, report: &mut Report) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        // `level: 4.1` or `level: 4` unquoted: YAML reads a number.
        Value::Number(n) => Some(n.to_string()),
        other => {
            wrong(
                other,
                path,
                "a codec level",
                "write it quoted, like \"4.1\"",
                report,
            );
            None
        }
    }
}

/// A bitrate in bits per second: an integer, or a string with a `k` (1000)
/// or `M` (1 000 000) suffix such as `6000k`, `1.5M`.
pub(super) fn bitrate(value: &Value, path: &str, report: &mut Report) -> Option<u64> {
    const FIX: &str = "write bits per second as a whole number (6000000), or a string with a k or M suffix (6000k, 6M)";
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(b) => Some(b),
            None => {
                wrong(value, path, "a bitrate", FIX, report);
                None
            }
        },
        Value::String(s) => match parse_bitrate(s) {
            Some(b) => Some(b),
            None => {
                wrong(value, path, "a bitrate", FIX, report);
                None
            }
        },
        other => {
            wrong(other, path, "a bitrate", FIX, report);
            None
        }
    }
}

/// Parses `128k`, `6M`, `1.5M`, `800000`. Returns `None` for anything else.
pub(super) fn parse_bitrate(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, scale) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 1e3),
        (i, 'M' | 'm') => (&t[..i], 1e6),
        _ => (t, 1.0),
    };
    let digits = digits.trim_end();
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        || digits.starts_with('.')
        || digits.ends_with('.')
        || digits.matches('.').count() > 1
    {
        return None;
    }
    let n: f64 = digits.parse().ok()?;
    let bits = (n * scale).round();
    if !bits.is_finite() || bits >= 1e18 {
        return None;
    }
    // The value is finite, non-negative and below 1e18, so it fits.
    Some(bits as u64)
}
