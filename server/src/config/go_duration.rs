//! Go durations (`time.ParseDuration` and `time.Duration.String()`), as ChartMuseum writes
//! `cacheinterval` and Chartroom `storage.pollinterval`.

use std::time::Duration;

/// Go's `time.ParseDuration` for non-negative values: `0`, or a sequence of decimal numbers
/// (optional fraction) each with a unit `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`.
pub(crate) fn parse_go_duration(raw: &str) -> Result<Duration, String> {
    const MAX_NANOS: u128 = i64::MAX as u128;
    let (negative, mut s) = if let Some(rest) = raw.strip_prefix('-') {
        (true, rest)
    } else {
        (false, raw.strip_prefix('+').unwrap_or(raw))
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("expected a duration such as 30s, 5m or 1h30m (or 0)".to_owned());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let n = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
                after.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number before each unit".to_owned());
        }
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("missing unit (ns, us, ms, s, m, h)".to_owned()),
            other => {
                return Err(format!("unknown unit {other:?} (use ns, us, ms, s, m or h)"));
            }
        };
        let too_long = || "duration too long".to_owned();
        let int: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| too_long())? };
        // Fraction digits beyond nanosecond precision of the largest unit are irrelevant.
        let frac_digits = &frac_part[..frac_part.len().min(18)];
        let frac: u128 = if frac_digits.is_empty() { 0 } else { frac_digits.parse().map_err(|_| too_long())? };
        let scale = 10u128.pow(frac_digits.len() as u32);
        let part =
            int.checked_mul(unit_nanos).and_then(|v| v.checked_add(frac * unit_nanos / scale)).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        if total > MAX_NANOS {
            return Err(too_long());
        }
        s = rest;
    }
    if negative && total > 0 {
        return Err("must not be negative".to_owned());
    }
    let nanos = u64::try_from(total).map_err(|_| "duration too long".to_owned())?;
    Ok(Duration::from_nanos(nanos))
}

/// Go's `time.Duration.String()`: `5m0s`, `1h30m0s`, `1.5s`, `250ms`, `0s`.
pub(crate) fn format_go_duration(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_owned();
    }
    let frac = |n: u128, digits: usize| {
        let s = format!("{n:0digits$}");
        let s = s.trim_end_matches('0');
        if s.is_empty() { String::new() } else { format!(".{s}") }
    };
    if total < 1_000 {
        return format!("{total}ns");
    }
    if total < 1_000_000 {
        return format!("{}{}µs", total / 1_000, frac(total % 1_000, 3));
    }
    if total < 1_000_000_000 {
        return format!("{}{}ms", total / 1_000_000, frac(total % 1_000_000, 6));
    }
    let secs = total / 1_000_000_000;
    let f = frac(total % 1_000_000_000, 9);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}{f}s")
    } else if m > 0 {
        format!("{m}m{s}{f}s")
    } else {
        format!("{s}{f}s")
    }
}
