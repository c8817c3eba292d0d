//! The date functions of buildx's standard library: `timestamp()` (now, in UTC),
//! `formatdate(format, timestamp)` and `timeadd(timestamp, duration)`, with go-cty's format
//! mnemonics and Go's duration syntax. Timestamps are RFC 3339 strings; results keep the
//! input's UTC offset and, like Go's `time.RFC3339`, carry no fraction of a second.

use hcl::Value;
use hcl::eval::{FuncArgs, FuncDef, ParamType};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

type Result = std::result::Result<Value, String>;

/// The functions, by name.
pub(crate) fn functions() -> Vec<(&'static str, FuncDef)> {
    vec![
        ("timestamp", FuncDef::builder().build(timestamp)),
        (
            "formatdate",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(formatdate),
        ),
        (
            "timeadd",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(timeadd),
        ),
    ]
}

fn timestamp(_: FuncArgs) -> Result {
    Ok(rfc3339(OffsetDateTime::now_utc()).into())
}

fn formatdate(args: FuncArgs) -> Result {
    let format = args[0].as_str().unwrap_or_default();
    let at = parse(args[1].as_str().unwrap_or_default())?;
    format_date(format, at).map(Value::from)
}

fn timeadd(args: FuncArgs) -> Result {
    let at = parse(args[0].as_str().unwrap_or_default())?;
    let duration = go_duration(args[1].as_str().unwrap_or_default())?;
    let sum = at
        .checked_add(duration)
        .ok_or("the result is out of the range of timestamps")?;
    Ok(rfc3339(sum).into())
}

fn parse(text: &str) -> std::result::Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|err| format!("{text:?} is not a valid RFC3339 timestamp: {err}"))
}

/// Go's `time.RFC3339` layout: seconds precision, `Z` for UTC.
fn rfc3339(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        offset(at.offset(), true, "Z"),
    )
}

/// `+hh:mm` (or `+hhmm` without `colon`); `utc` when the offset is zero.
fn offset(offset: UtcOffset, colon: bool, utc: &str) -> String {
    if offset.is_utc() && !utc.is_empty() {
        return utc.to_owned();
    }
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let separator = if colon { ":" } else { "" };
    format!(
        "{sign}{:02}{separator}{:02}",
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    )
}

/// go-cty's `formatdate`: runs of one letter are mnemonics (`YYYY`, `MM`, `DD`, `hh`, `mm`,
/// `ss`, `EEE`, `AA`, `Z`…), text in single quotes is literal (`''` is a quote), anything
/// else is copied.
fn format_date(format: &str, at: OffsetDateTime) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = format;
    while let Some(first) = rest.chars().next() {
        if first == '\'' {
            rest = literal(&rest[1..], &mut out)?;
        } else if first.is_ascii_alphabetic() {
            let run = rest.len() - rest.trim_start_matches(first).len();
            verb(&rest[..run], at, &mut out)?;
            rest = &rest[run..];
        } else {
            out.push(first);
            rest = &rest[first.len_utf8()..];
        }
    }
    Ok(out)
}

/// Copies quoted text after an opening quote into `out`; returns what follows the closing one.
fn literal<'a>(mut rest: &'a str, out: &mut String) -> std::result::Result<&'a str, String> {
    if let Some(after) = rest.strip_prefix('\'') {
        out.push('\'');
        return Ok(after);
    }
    loop {
        let end = rest.find('\'').ok_or("unterminated literal '")?;
        out.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                out.push('\'');
                rest = after;
            }
            None => return Ok(rest),
        }
    }
}

fn verb(token: &str, at: OffsetDateTime, out: &mut String) -> std::result::Result<(), String> {
    let padded = |n: u8, width: usize| match width {
        1 => Some(n.to_string()),
        2 => Some(format!("{n:02}")),
        _ => None,
    };
    let hour12 = match at.hour() % 12 {
        0 => 12,
        h => h,
    };
    let text = match (token.as_bytes()[0], token.len()) {
        (b'Y', 2) => Some(format!("{:02}", at.year().rem_euclid(100))),
        (b'Y', 4) => Some(format!("{:04}", at.year())),
        (b'M', 3) => Some(at.month().to_string()[..3].to_owned()),
        (b'M', 4) => Some(at.month().to_string()),
        (b'M', n) => padded(u8::from(at.month()), n),
        (b'D', n) => padded(at.day(), n),
        (b'E', 3) => Some(at.weekday().to_string()[..3].to_owned()),
        (b'E', 4) => Some(at.weekday().to_string()),
        (b'h', n) => padded(at.hour(), n),
        (b'H', n) => padded(hour12, n),
        (b'A', 2) => Some(if at.hour() < 12 { "AM" } else { "PM" }.to_owned()),
        (b'a', 2) => Some(if at.hour() < 12 { "am" } else { "pm" }.to_owned()),
        (b'm', n) => padded(at.minute(), n),
        (b's', n) => padded(at.second(), n),
        (b'Z', 1) => Some(offset(at.offset(), true, "Z")),
        (b'Z', 3) => Some(offset(at.offset(), false, "UTC")),
        (b'Z', 4) => Some(offset(at.offset(), false, "")),
        (b'Z', 5) => Some(offset(at.offset(), true, "")),
        _ => None,
    };
    let text = text.ok_or_else(|| format!("invalid date format verb {token:?}"))?;
    out.push_str(&text);
    Ok(())
}

/// A Go duration: an optional sign, then numbers with units (`ns`, `us`, `µs`, `ms`, `s`,
/// `m`, `h`), like `1h30m`, `-1.5h` or `300ms`; `0` alone is zero.
fn go_duration(text: &str) -> std::result::Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {text:?}"))?;
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        nanos += number * scale;
        rest = &rest[unit_len..];
    }
    let nanos = if negative { -nanos } else { nanos };
    Ok(Duration::nanoseconds(nanos.round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        parse(text).unwrap()
    }

    #[test]
    fn formatdate_follows_go_cty() {
        let t = at("2018-01-02T23:12:01-08:00");
        let cases = [
            ("DD MMM YYYY hh:mm ZZZ", "02 Jan 2018 23:12 -0800"),
            (
                "EEEE, DD-MMM-YY hh:mm:ss ZZZ",
                "Tuesday, 02-Jan-18 23:12:01 -0800",
            ),
            (
                "EEE, DD MMM YYYY hh:mm:ss ZZZ",
                "Tue, 02 Jan 2018 23:12:01 -0800",
            ),
            ("MMM DD, YYYY", "Jan 02, 2018"),
            ("HH:mmaa", "11:12pm"),
            ("H 'o''clock' AA", "11 o'clock PM"),
            ("M/D/YY Z ZZZZ ZZZZZ", "1/2/18 -08:00 -0800 -08:00"),
            ("''", "'"),
        ];
        for (format, want) in cases {
            assert_eq!(format_date(format, t).unwrap(), want, "{format}");
        }
        let utc = at("2024-06-30T00:05:09Z");
        assert_eq!(
            format_date("YYYYMMDD'T'hhmmssZ ZZZ h s", utc).unwrap(),
            "20240630T000509Z UTC 0 9"
        );
        assert!(format_date("YYY", utc).unwrap_err().contains("\"YYY\""));
        assert!(
            format_date("'open", utc)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            parse("2024-06-30 00:05:09")
                .unwrap_err()
                .contains("not a valid RFC3339")
        );
    }

    #[test]
    fn timeadd_takes_go_durations() {
        let add = |t: &str, d: &str| rfc3339(at(t).checked_add(go_duration(d).unwrap()).unwrap());
        assert_eq!(add("2017-11-22T00:00:00Z", "10m"), "2017-11-22T00:10:00Z");
        assert_eq!(
            add("2017-11-22T00:00:00+02:00", "-1.5h"),
            "2017-11-21T22:30:00+02:00"
        );
        assert_eq!(
            add("2017-11-22T00:00:00Z", "1h1m1s500ms"),
            "2017-11-22T01:01:01Z"
        );
        assert_eq!(go_duration("0").unwrap(), Duration::ZERO);
        assert!(go_duration("5").unwrap_err().contains("missing unit"));
        assert!(go_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(go_duration("").is_err());
    }

    #[test]
    fn timestamp_is_utc_seconds() {
        use hcl::eval::{Context, Evaluate};
        let mut ctx = Context::new();
        for (name, def) in functions() {
            ctx.declare_func(name, def);
        }
        let call: hcl::Expression = "timestamp()".parse().unwrap();
        let now = call.evaluate(&ctx).unwrap();
        let now = now.as_str().unwrap();
        assert_eq!(now.len(), "2006-01-02T15:04:05Z".len(), "{now}");
        assert!(now.ends_with('Z'));
        parse(now).unwrap();
    }
}
