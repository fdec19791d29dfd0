//! The config parser's machinery: the `Parser` with its error and warning lists, typed readers of scalar values
//! (strings with `${VAR}`, durations, counts, ports, booleans, key files), and typo suggestions.

use super::{duration, expand};
use serde_yaml::Value;
use std::fmt;
use std::time::Duration;

pub(super) struct Parser<'a> {
    pub(super) errors: Vec<String>,
    pub(super) warnings: Vec<String>,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    /// Directory of the config file, for relative `apiKeyFile` paths outside systemd.
    pub(super) base: Option<&'a std::path::Path>,
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, if it is close enough to be a typo.
pub fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `64MiB`, `512KiB`, `1GiB`, `100000` (bytes); at least 1 KiB.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let unit = match s[split..].trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit).filter(|v| *v >= 1024)
}

/// `debug`, `info`, `warn`/`warning` or `error`.
pub fn parse_log_level(s: &str) -> Option<log::LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "debug" => Some(log::LevelFilter::Debug),
        "info" => Some(log::LevelFilter::Info),
        "warn" | "warning" => Some(log::LevelFilter::Warn),
        "error" => Some(log::LevelFilter::Error),
        _ => None,
    }
}

/// Reads the certificates of a PEM bundle; an unreadable file or one without certificates is an error.
pub fn load_ca_file(path: &str) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not valid PEM ({e})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// ` (found "apiKy" — a typo of apiKey?)` when an unknown key in `map` is closest to the missing `wanted` key.
pub(super) fn typo_of(map: Option<&serde_yaml::Mapping>, wanted: &str, known: &[&str]) -> String {
    map.into_iter()
        .flat_map(|m| m.keys())
        .filter_map(Value::as_str)
        .find(|k| !known.contains(k) && nearest(k, known) == Some(wanted))
        .map(|k| format!(" (found {k:?}: a typo of {wanted}?)"))
        .unwrap_or_default()
}

/// A value as error messages quote it: scalars as written, lists and mappings only by their shape. A block is
/// never dumped: it may hold a secret (an `apiKey` written as a list, a key pasted as a mapping key).
pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Sequence(l) => match l.len() {
            1 => "a list of 1 item".into(),
            n => format!("a list of {n} items"),
        },
        Value::Mapping(_) => "a mapping of keys".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// A value by its shape only (`a text value`, `a list of 2 items`), for places that expected a block: whatever
/// stands there instead may be a secret written one level too high.
pub(super) fn shape(v: &Value) -> String {
    match v {
        Value::String(_) => "a text value".into(),
        other => show(other),
    }
}

/// Keys whose values are never quoted in a message, whatever their YAML shape.
pub(super) fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["key", "password", "passwd", "secret", "token", "credential"].iter().any(|w| k.contains(w)) && !k.ends_with("file")
}

/// Unknown keys longer than this are not echoed: no key of ours is this long, a pasted secret is.
const LONGEST_SHOWN_KEY: usize = 32;

impl Parser<'_> {
    pub(super) fn err(&mut self, path: &str, msg: impl fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }

    pub(super) fn warn(&mut self, path: &str, msg: impl fmt::Display) {
        self.warnings.push(format!("{path}: {msg}"));
    }

    /// The mapping at `path`, after warning about keys outside `known` (and `ignored`, accepted silently-ish).
    pub(super) fn mapping<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
        ignored: &[(&str, &str)],
    ) -> Option<&'v serde_yaml::Mapping> {
        let map = match v {
            Value::Mapping(m) => m,
            Value::Null => return None,
            other => {
                self.err(
                    path,
                    format_args!("expected a mapping of keys, found {}; indent the keys under {path}:", shape(other)),
                );
                return None;
            }
        };
        for k in map.keys() {
            let Some(key) = k.as_str() else {
                self.warn(path, format_args!("ignoring non-string key {}", show(k)));
                continue;
            };
            if known.contains(&key) {
                continue;
            }
            if key.chars().count() > LONGEST_SHOWN_KEY {
                let n = key.chars().count();
                self.warn(
                    path,
                    format_args!(
                        "ignoring an unknown key of {n} characters (not shown: it may be a secret pasted out of place)"
                    ),
                );
                continue;
            }
            if let Some((_, why)) = ignored.iter().find(|(name, _)| *name == key) {
                self.warn(&format!("{path}.{key}"), format_args!("ignored: {why}"));
                continue;
            }
            let mut all: Vec<&str> = known.to_vec();
            all.extend(ignored.iter().map(|(k, _)| *k));
            match nearest(key, &all) {
                Some(s) => {
                    self.warn(&format!("{path}.{key}"), format_args!("unknown key ignored; did you mean {s:?}?"))
                }
                None => self.warn(
                    &format!("{path}.{key}"),
                    format_args!("unknown key ignored; valid keys here are: {}", known.join(", ")),
                ),
            }
        }
        Some(map)
    }

    /// A string scalar with `${VAR}` expanded; numbers and booleans are accepted as their text.
    pub(super) fn string(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str) -> Option<String> {
        let v = map?.get(key)?;
        let path = format!("{path}.{key}");
        let raw = match v {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                self.err(
                    &path,
                    format_args!("expected a single value, found {}; write {key}: <value> on one line", show(other)),
                );
                return None;
            }
        };
        match expand::expand(&raw, self.env) {
            Ok(s) => Some(s),
            Err(name) if raw.contains(&format!("${{{name}}}")) => {
                self.err(&path, format_args!("environment variable {name} is not set; export {name} (for systemd: Environment= or EnvironmentFile=) or write the value directly"));
                None
            }
            Err(_) if is_secret(key) => {
                self.err(&path, format_args!("an invalid ${{…}} reference in the value (not shown); write ${{NAME}} for a variable or $$ for a literal $"));
                None
            }
            Err(msg) => {
                self.err(&path, format_args!("{msg} in {raw:?}; write ${{NAME}} for a variable or $$ for a literal $"));
                None
            }
        }
    }

    /// Reads an API key file: relative paths resolve in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`)
    /// when set, else next to the config file. Trailing whitespace (the newline editors add) is trimmed.
    pub(super) fn key_file(&mut self, file: &str, key_path: &str) -> Option<String> {
        let p = std::path::Path::new(file);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else if let Some(dir) = (self.env)("CREDENTIALS_DIRECTORY") {
            std::path::Path::new(&dir).join(p)
        } else {
            self.base.map_or_else(|| p.to_path_buf(), |b| b.join(p))
        };
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) => {
                self.err(key_path, format_args!("cannot read {} ({e}); create it with the API key, readable by the exporter's user (with systemd: LoadCredential=)", full.display()));
                return None;
            }
        };
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(&full).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
            self.warn(key_path, format_args!("{} is readable by every user; chmod 0640 it", full.display()));
        }
        let key = text.trim_end().to_string();
        if key.is_empty() {
            self.err(key_path, format_args!("{} is empty; put the NetBackup API key in it", full.display()));
            return None;
        }
        Some(key)
    }

    pub(super) fn duration(
        &mut self,
        map: Option<&serde_yaml::Mapping>,
        key: &str,
        path: &str,
        default: Duration,
    ) -> Duration {
        let Some(s) = self.string(map, key, path) else {
            return default;
        };
        match duration::parse(&s) {
            Ok(d) if d.is_zero() => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} must be greater than zero; use e.g. \"{}\"", duration::format(default)),
                );
                default
            }
            Ok(d) => d,
            Err(why) => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} is not a duration ({why}); use e.g. \"5m\", \"1h30m\" or \"30s\""),
                );
                default
            }
        }
    }

    /// A whole number within `range`.
    pub(super) fn count(
        &mut self,
        map: Option<&serde_yaml::Mapping>,
        key: &str,
        path: &str,
        range: std::ops::RangeInclusive<usize>,
        default: usize,
    ) -> usize {
        let Some(v) = self.string(map, key, path) else { return default };
        match v.trim().parse::<usize>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                let (lo, hi) = (range.start(), range.end());
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{v:?} is not a whole number from {lo} to {hi}; use e.g. {default} (the default)"),
                );
                default
            }
        }
    }

    pub(super) fn port(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str, default: u16) -> u16 {
        let Some(s) = self.string(map, key, path) else {
            return default;
        };
        match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                self.err(
                    &format!("{path}.{key}"),
                    format_args!("{s:?} is not a TCP port; use a number from 1 to 65535 (NetBackup listens on 1556)"),
                );
                default
            }
        }
    }

    pub(super) fn boolean(&mut self, map: Option<&serde_yaml::Mapping>, key: &str, path: &str) -> bool {
        let Some(s) = self.string(map, key, path) else {
            return false;
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => true,
            "false" | "no" | "off" | "0" | "" => false,
            _ => {
                self.err(&format!("{path}.{key}"), format_args!("{s:?} is not a boolean; use true or false"));
                false
            }
        }
    }
}
