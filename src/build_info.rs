//! Build identity (version, revision, branch, rustc, build date, platform) and the `--version` text; set by build.rs.

/// The crate version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The full commit sha this binary was built from, or `unknown`.
pub const REVISION: &str = env!("NBU_EXPORTER_REVISION");
/// The branch this binary was built from, or `unknown` (detached HEAD, no git).
pub const BRANCH: &str = env!("NBU_EXPORTER_BRANCH");
/// The version number of the compiler that built it, e.g. `1.95.0`, or `unknown`.
pub const RUSTC: &str = env!("NBU_EXPORTER_RUSTC");
/// When it was built (`SOURCE_DATE_EPOCH` if set), UTC, as Prometheus prints it: `20261201-23:01:53`.
pub const BUILD_DATE: &str = env!("NBU_EXPORTER_BUILD_DATE");

/// `os/arch` of the running binary, e.g. `linux/x86_64` (a function: `std::env::consts` cannot be concatenated in a
/// const).
pub fn platform() -> String {
    format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// What `--version` prints, laid out as Prometheus' `version.Print`.
pub fn version_text() -> String {
    format!(
        "nbu_exporter, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n\
         \x20 build date:       {BUILD_DATE}\n\
         \x20 rustc version:    {RUSTC}\n\
         \x20 platform:         {}\n",
        platform()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }

    #[test]
    fn version_text_has_the_prometheus_layout() {
        let text = version_text();
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");

        let prefix = format!("nbu_exporter, version {} (branch: ", env!("CARGO_PKG_VERSION"));
        let head = lines[0].strip_prefix(prefix.as_str()).unwrap_or_else(|| panic!("{text}"));
        let (branch, revision) = head.strip_suffix(')').and_then(|h| h.rsplit_once(", revision: ")).expect("revision");
        assert_eq!((branch, revision), (BRANCH, REVISION));
        assert!(!BRANCH.is_empty(), "empty branch");
        assert!(
            REVISION == "unknown" || (REVISION.len() == 40 && REVISION.bytes().all(|b| b.is_ascii_hexdigit())),
            "REVISION {REVISION:?}: neither unknown nor a 40-hex sha"
        );

        // Two spaces, the label, values aligned in column 20.
        let mut values = Vec::new();
        for (line, label) in lines[1..].iter().zip(["build date:", "rustc version:", "platform:"]) {
            let rest =
                line.strip_prefix("  ").and_then(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!(line.len() - rest.trim_start().len(), 20, "{line:?}");
            values.push(rest.trim_start());
        }
        assert_eq!(values, [BUILD_DATE, RUSTC, platform().as_str()]);

        // BUILD_DATE: \d{8}-\d\d:\d\d:\d\d
        let (date, time) = BUILD_DATE.split_once('-').unwrap_or_default();
        let hms: Vec<&str> = time.split(':').collect();
        assert!(
            date.len() == 8 && digits(date) && hms.len() == 3 && hms.iter().all(|p| p.len() == 2 && digits(p)),
            "BUILD_DATE {BUILD_DATE:?}"
        );
        assert!(RUSTC == "unknown" || RUSTC.starts_with(|c: char| c.is_ascii_digit()), "RUSTC {RUSTC:?}");
        assert_eq!(platform(), format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH));
    }
}
