//! NetBackup timestamps and durations: ISO-8601 UTC instants, ISO-8601 / `HH:MM:SS` durations, epoch-zero as "unset".

/// Milliseconds since the Unix epoch.
pub type EpochMs = i64;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
}

/// Parses `2026-07-09T09:43:18.000Z` (also without fraction, lower-case `t`/`z`, or with a
/// `±HH:MM` offset) into epoch milliseconds. Returns `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<EpochMs> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hh, mm, ss) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scale = 100i64;
        for &c in &frac[..n.min(3)] {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[n..];
    }
    let offset_secs: i64 = match rest {
        b"Z" | b"z" | b"" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = i64::from(digits(&[*h1, *h2])?);
            let m = i64::from(digits(&[*m1, *m2])?);
            let v = h * 3600 + m * 60;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss) - offset_secs;
    Some(secs * 1000 + millis)
}

/// Like [`parse_timestamp`], but NetBackup's `1970-01-01T00:00:00.000Z` ("not set") becomes `None`.
pub fn parse_set_timestamp(s: &str) -> Option<EpochMs> {
    parse_timestamp(s).filter(|&ms| ms != 0)
}

/// Formats epoch milliseconds the way NetBackup writes them: `2026-07-09T09:43:18.000Z`.
pub fn format_timestamp(ms: EpochMs) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Parses a job duration: ISO-8601 (`PT1M11.214S`, `P1DT2H`, `PT9S`) as sent by API ≥ 9.0, or
/// `HH:MM:SS` / `D HH:MM:SS` as sent by older servers. Returns seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('P').or_else(|| s.strip_prefix('p')) {
        return parse_iso_duration(rest);
    }
    let (days, clock) = match s.split_once(' ') {
        Some((d, c)) => (f64::from(digits(d.as_bytes())?), c),
        None => (0.0, s),
    };
    let mut parts = clock.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let h = f64::from(digits(h.as_bytes())?);
    let m = f64::from(digits(m.as_bytes())?);
    let sec: f64 = sec.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    Some(days * 86_400.0 + h * 3600.0 + m * 60.0 + sec)
}

fn parse_iso_duration(rest: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' | 't' if num.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => num.push(if c == ',' { '.' } else { c }),
            _ => {
                let v: f64 = num.parse().ok()?;
                num.clear();
                let unit = match (in_time, c.to_ascii_uppercase()) {
                    (false, 'Y') => 365.0 * 86_400.0,
                    (false, 'M') => 30.0 * 86_400.0,
                    (false, 'W') => 7.0 * 86_400.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return None,
                };
                total += v * unit;
                any = true;
            }
        }
    }
    (any && num.is_empty() && total.is_finite()).then_some(total)
}

/// Current wall-clock time in epoch milliseconds.
pub fn now_ms() -> EpochMs {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Parses an HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 7231 IMF-fixdate).
pub fn parse_http_date(s: &str) -> Option<EpochMs> {
    let mut it = s.split_whitespace();
    let _weekday = it.next()?;
    let day = digits(it.next()?.as_bytes())?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(it.next()?.as_bytes())?;
    let iso = format!("{year:04}-{month:02}-{day:02}T{}Z", it.next()?);
    parse_timestamp(&iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ms = parse_timestamp("2026-07-09T09:43:18.657Z").unwrap();
        assert_eq!(format_timestamp(ms), "2026-07-09T09:43:18.657Z");
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_set_timestamp("1970-01-01T00:00:00.000Z"), None);
        assert_eq!(parse_timestamp("2026-07-09T09:43:18Z"), Some(ms - 657));
        assert_eq!(parse_timestamp("2026-07-09T11:43:18.657+02:00"), Some(ms));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-07-09T09:43:18.Z", "2026-07-09T09:43:18Q"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_in_both_formats() {
        assert_eq!(parse_duration("PT1M11.214S"), Some(71.214));
        assert_eq!(parse_duration("PT9S"), Some(9.0));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600.0));
        assert_eq!(parse_duration("01:02:03"), Some(3723.0));
        assert_eq!(parse_duration("2 01:00:00"), Some(176_400.0));
        for bad in ["", "P", "PT", "PTXS", "1:2", "a:b:c", "PT5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(parse_http_date("Thu, 09 Jul 2026 09:43:18 GMT"), parse_timestamp("2026-07-09T09:43:18Z"));
        assert_eq!(parse_http_date("garbage"), None);
    }
}
