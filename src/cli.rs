//! Command-line flags, Prometheus style (`--config.file`, `--web.listen-address`, …), parsed by hand.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub config_file: String,
    pub listen_address: Option<String>,
    pub telemetry_path: Option<String>,
    /// `--web.config.file`: TLS and basic auth for the exporter's own endpoint (exporter-toolkit format).
    pub web_config_file: Option<String>,
    /// Overrides `server.logLevel` when given.
    pub log_level: Option<log::LevelFilter>,
    pub log_format: LogFormat,
    pub enable_lifecycle: bool,
    pub check_config: bool,
    pub version: bool,
    pub help: bool,
}

impl Default for Cli {
    fn default() -> Self {
        Cli {
            config_file: "config.yaml".into(),
            listen_address: None,
            telemetry_path: None,
            web_config_file: None,
            log_level: None,
            log_format: LogFormat::Logfmt,
            enable_lifecycle: false,
            check_config: false,
            version: false,
            help: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}; run with --help for usage", self.0)
    }
}

pub const USAGE: &str = "\
Usage: nbu_exporter [flags]

Prometheus exporter for Veritas/Cohesity NetBackup.

Flags:
  -c, --config.file PATH       YAML configuration file (default: config.yaml; alias --config)
      --web.listen-address A   address to listen on, e.g. :2112 or 127.0.0.1:2112 (overrides server.host/port)
      --web.telemetry-path P   path of the metrics endpoint (overrides server.uri; default /metrics)
      --web.config.file PATH   TLS and basic auth for this endpoint (Prometheus exporter-toolkit format)
      --web.enable-lifecycle   accept POST /-/reload (reload the configuration over HTTP)
      --log.level LEVEL        debug, info, warn or error (overrides server.logLevel; default: info)
      --log.format FORMAT      logfmt or json (default: logfmt)
      --check-config [PATH]    validate the configuration, print OK or the errors, and exit 0 or 1
      --version                print the version and exit
  -h, --help                   print this help and exit
";

impl Cli {
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, CliError> {
        let mut cli = Cli::default();
        let mut it = args.into_iter().peekable();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, CliError> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it.next().ok_or_else(|| CliError(format!("{name} needs a value"))),
                }
            };
            match flag.as_str() {
                "-c" | "--config" | "--config.file" => cli.config_file = value(&flag)?,
                "--web.listen-address" => cli.listen_address = Some(value(&flag)?),
                "--web.telemetry-path" => {
                    let p = value(&flag)?;
                    if !p.starts_with('/') {
                        return Err(CliError(format!("--web.telemetry-path {p:?} must start with /")));
                    }
                    cli.telemetry_path = Some(p);
                }
                "--log.level" => {
                    let v = value(&flag)?;
                    cli.log_level = Some(crate::config::parse_log_level(&v).ok_or_else(|| {
                        CliError(format!("--log.level {v:?} is not one of debug, info, warn, error"))
                    })?);
                }
                "--log.format" => {
                    let v = value(&flag)?;
                    cli.log_format = match v.as_str() {
                        "logfmt" => LogFormat::Logfmt,
                        "json" => LogFormat::Json,
                        _ => return Err(CliError(format!("--log.format {v:?} is not one of logfmt, json"))),
                    }
                }
                "--check-config" => {
                    cli.check_config = true;
                    if let Some(v) = inline {
                        cli.config_file = v;
                    } else if let Some(next) = it.next_if(|n| !n.starts_with('-')) {
                        cli.config_file = next;
                    }
                }
                "--web.config.file" => cli.web_config_file = Some(value(&flag)?),
                "--web.enable-lifecycle" => cli.enable_lifecycle = true,
                "--version" => cli.version = true,
                "-h" | "--help" => cli.help = true,
                other => {
                    let known = [
                        "--config.file",
                        "--web.listen-address",
                        "--web.telemetry-path",
                        "--web.config.file",
                        "--log.level",
                        "--log.format",
                        "--check-config",
                        "--web.enable-lifecycle",
                        "--version",
                        "--help",
                    ];
                    let hint = crate::config::nearest(other, &known)
                        .map(|k| format!(" (did you mean {k}?)"))
                        .unwrap_or_default();
                    return Err(CliError(format!("unknown flag {other:?}{hint}")));
                }
            }
        }
        Ok(cli)
    }
}

/// Turns `:2112`, `0.0.0.0:2112` or `[::1]:2112` into a bindable address.
pub fn normalize_listen_address(a: &str) -> Result<String, CliError> {
    let a = a.trim();
    let addr = if let Some(port) = a.strip_prefix(':') { format!("0.0.0.0:{port}") } else { a.to_string() };
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(addr),
        _ => Err(CliError(format!("--web.listen-address {a:?} is not HOST:PORT (e.g. :2112 or 127.0.0.1:2112)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, CliError> {
        Cli::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn prometheus_style_flags() {
        let c = parse(&["--config.file=/etc/x.yaml", "--web.listen-address", ":9000", "--log.format", "json"]).unwrap();
        assert_eq!(c.config_file, "/etc/x.yaml");
        assert_eq!(c.listen_address.as_deref(), Some(":9000"));
        assert_eq!(c.log_format, LogFormat::Json);
        let c = parse(&["--check-config", "config.yaml"]).unwrap();
        assert!(c.check_config && c.config_file == "config.yaml");
        assert_eq!(parse(&["-c", "a.yaml"]).unwrap().config_file, "a.yaml");
        assert!(parse(&["--log.level", "loud"]).is_err());
        assert!(parse(&["--config.fle", "x"]).unwrap_err().0.contains("did you mean --config.file"));
        assert_eq!(normalize_listen_address(":2112").unwrap(), "0.0.0.0:2112");
        assert!(normalize_listen_address("2112").is_err());
    }
}
