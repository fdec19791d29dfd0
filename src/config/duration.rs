//! Go-style durations for config values: `90s`, `5m`, `1h30m`, `500ms`.

use std::time::Duration;

/// Parses `1h30m`, `5m`, `30s`, `250ms`, `1.5h`; a bare number without unit is rejected.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let value: f64 = rest[..n].parse().map_err(|_| format!("bad number {:?}", &rest[..n]))?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => return Err("missing unit (use h, m, s or ms, e.g. 5m)".into()),
            other => return Err(format!("unknown unit {other:?} (use h, m, s or ms)")),
        };
        rest = &rest[u..];
        total += value * secs;
    }
    if !total.is_finite() || total > 10.0 * 365.0 * 86_400.0 {
        return Err("duration too large".into());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way users write it: `1h30m`, `5m`, `45s`, `250ms`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in ["", "5", "5x", "m", "1h-2m", "abc"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
