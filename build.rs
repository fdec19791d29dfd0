//! Build identity for `nbu_exporter --version` (see src/build_info.rs): revision, branch, rustc version and build
//! date, passed to the crate as compile-time environment variables. Never fails the build: whatever cannot be
//! found is `unknown`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const UNKNOWN: &str = "unknown";

/// The largest `SOURCE_DATE_EPOCH` that still formats with a four-digit year (9999-12-31 23:59:59 UTC).
const MAX_EPOCH: i64 = 253_402_300_799;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["NBU_EXPORTER_REVISION", "NBU_EXPORTER_BRANCH", "SOURCE_DATE_EPOCH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));
    // Only a repository whose work tree is this directory counts: a source tarball unpacked inside some other
    // checkout (a distribution's packaging repository, say) must not take that repository's commit.
    let dot_git = manifest_dir.join(".git");
    let checkout = dot_git.exists();
    if checkout {
        for path in git_watch_paths(&manifest_dir, &dot_git) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let revision = match from_env("NBU_EXPORTER_REVISION") {
        Some(r) => {
            if !is_sha(&r) {
                println!("cargo:warning=NBU_EXPORTER_REVISION={r:?} is not a full commit sha; using it as given");
            }
            Some(r)
        }
        None if checkout => match git(&manifest_dir, &["rev-parse", "HEAD"]) {
            Ok(r) if is_sha(&r) => Some(r),
            Ok(r) => warn_unknown(&format!("git rev-parse HEAD said {r:?}")),
            Err(e) => warn_unknown(&e),
        },
        None => None,
    };
    let branch = match from_env("NBU_EXPORTER_BRANCH") {
        Some(b) => Some(b),
        // Detached HEAD: git answers "HEAD", which names no branch.
        None if checkout => git(&manifest_dir, &["rev-parse", "--abbrev-ref", "HEAD"]).ok().filter(|b| b != "HEAD"),
        None => None,
    };

    set("NBU_EXPORTER_REVISION", revision.as_deref().unwrap_or(UNKNOWN));
    set("NBU_EXPORTER_BRANCH", branch.as_deref().unwrap_or(UNKNOWN));
    set("NBU_EXPORTER_RUSTC", rustc_version().as_deref().unwrap_or(UNKNOWN));
    set("NBU_EXPORTER_BUILD_DATE", &format_date(build_time()));
}

fn set(key: &str, value: &str) {
    println!("cargo:rustc-env={key}={value}");
}

/// A variable's trimmed value; unset, empty or multi-line (which `cargo:rustc-env` cannot carry) count as absent.
fn from_env(key: &str) -> Option<String> {
    let value = std::env::var(key).ok()?;
    let value = value.trim();
    if value.chars().any(char::is_control) {
        println!("cargo:warning={key} contains control characters; ignored");
        return None;
    }
    (!value.is_empty()).then(|| value.to_string())
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `git <args>` in `dir`: its first output line, or why there is none (git missing, not a repository, no commit).
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().next().unwrap_or("").trim().trim_end_matches('.');
        return Err(format!("git {} failed ({why})", args.join(" ")));
    }
    let line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() || line.chars().any(char::is_control) {
        return Err(format!("git {} gave no usable answer", args.join(" ")));
    }
    Ok(line)
}

fn warn_unknown(why: &str) -> Option<String> {
    println!("cargo:warning={why}; revision: unknown");
    None
}

/// The files whose change means HEAD may name another commit: HEAD itself, the loose ref it points to, packed-refs
/// (and a reftable directory). Handles `.git` as a directory and as a `gitdir:` file (worktrees, submodules); only
/// paths that exist are returned (cargo re-runs the script on every build for a missing one).
fn git_watch_paths(manifest_dir: &Path, dot_git: &Path) -> Vec<PathBuf> {
    let git_dir = if dot_git.is_dir() {
        dot_git.to_path_buf()
    } else {
        let Some(target) = std::fs::read_to_string(dot_git)
            .ok()
            .and_then(|text| text.lines().next().and_then(|l| l.strip_prefix("gitdir:")).map(|p| p.trim().to_string()))
        else {
            return Vec::new();
        };
        manifest_dir.join(target) // an absolute target replaces the base
    };
    let git_dir = std::fs::canonicalize(&git_dir).unwrap_or(git_dir);
    // A linked worktree keeps HEAD in its own directory and the shared refs in the main repository's.
    let common_dir = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|p| git_dir.join(p.trim()))
        .and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    let Ok(head_text) = std::fs::read_to_string(&head) else {
        return Vec::new();
    };
    let mut paths = vec![head];
    if let Some(name) = head_text.trim().strip_prefix("ref:").map(str::trim) {
        let candidates = [git_dir.join(name), common_dir.join(name)];
        match candidates.iter().find(|p| p.is_file()) {
            Some(loose) => paths.push(loose.clone()),
            // Packed (e.g. after `git gc`): the next commit creates the loose file, and neither HEAD nor
            // packed-refs changes. Watch the nearest existing directory above it instead (cargo scans it).
            None => paths.extend(
                candidates[1]
                    .ancestors()
                    .skip(1)
                    .take_while(|d| d.starts_with(&common_dir) && *d != common_dir.as_path())
                    .find(|d| d.is_dir())
                    .map(Path::to_path_buf),
            ),
        }
    }
    for extra in ["packed-refs", "reftable"] {
        let path = common_dir.join(extra);
        if path.exists() {
            paths.push(path);
        }
    }
    paths
}

/// The version number from `$RUSTC --version` ("rustc 1.95.0 (59807616e 2026-04-14)" gives "1.95.0").
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text.split_whitespace().nth(1)?;
    version.starts_with(|c: char| c.is_ascii_digit()).then(|| version.to_string())
}

/// Seconds since the Unix epoch: `SOURCE_DATE_EPOCH` if set (reproducible builds), else now.
fn build_time() -> i64 {
    if let Some(raw) = std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| !v.trim().is_empty()) {
        match raw.trim().parse::<i64>() {
            Ok(secs) if (0..=MAX_EPOCH).contains(&secs) => return secs,
            _ => println!(
                "cargo:warning=SOURCE_DATE_EPOCH={raw:?} is not a Unix time in seconds; using the current time"
            ),
        }
    }
    SystemTime::now().duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok()).unwrap_or(0)
}

/// UTC as Prometheus' builds print it: `20261201-23:01:53`.
fn format_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to the proleptic Gregorian (year, month, day): H. Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}
