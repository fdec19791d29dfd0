//! Log output in logfmt or JSON on stderr (journald) or the configured `logName` file.

use crate::cli::LogFormat;
use crate::netbackup::time::{format_timestamp, now_ms};
use std::io::Write;

fn logfmt_value(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '"', '=', '\n', '\\']) {
        return s.to_string();
    }
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Installs the global logger. `log_file` (server.logName) receives the logs when it can be opened.
pub fn init(level: log::LevelFilter, format: LogFormat, log_file: Option<&str>) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    // Dependencies (ureq, rustls, tiny_http) stay at warn unless debugging.
    for noisy in ["ureq", "ureq_proto", "rustls", "tiny_http"] {
        b.filter_module(
            noisy,
            if level >= log::LevelFilter::Debug { log::LevelFilter::Info } else { log::LevelFilter::Warn },
        );
    }
    b.format(move |buf, rec| {
        let ts = format_timestamp(now_ms());
        let level = rec.level().as_str().to_ascii_lowercase();
        let msg = rec.args().to_string();
        match format {
            LogFormat::Logfmt => writeln!(buf, "ts={ts} level={level} msg={}", logfmt_value(&msg)),
            LogFormat::Json => writeln!(buf, "{{\"ts\":\"{ts}\",\"level\":\"{level}\",\"msg\":{}}}", json_string(&msg)),
        }
    });
    let mut file_error = None;
    if let Some(path) = log_file {
        match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => {
                b.target(env_logger::Target::Pipe(Box::new(f)));
            }
            Err(e) => file_error = Some(format!("cannot open server.logName {path:?} ({e}); logging to stderr")),
        }
    }
    let _ = b.try_init();
    set_level(level);
    if let Some(e) = file_error {
        log::warn!("{e}");
    }
}

/// Changes the log level at run time.
pub fn set_level(level: log::LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quotes_when_needed() {
        assert_eq!(logfmt_value("ok"), "ok");
        assert_eq!(logfmt_value("a b=\"c\""), "\"a b=\\\"c\\\"\"");
    }
}
