//! The file-descriptor budget: RLIMIT_NOFILE read (soft raised to hard) at start, and `maxConnections` clamped to it.

use std::io;

/// Descriptors kept for everything but client connections: stdio, the listener, NetBackup connections (sites ×
/// concurrency), the log file, inotify, signal and notify sockets, with a margin for connections being closed.
pub const RESERVED_FDS: u64 = 100;

/// The process's descriptor limit after the start-up raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before it was raised, when it was.
    pub raised_from: Option<u64>,
}

fn getrlimit() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the valid, owned struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

/// Reads RLIMIT_NOFILE and raises the soft limit to the hard one (as Go programs do at start). `setrlimit` is
/// the `prlimit64` system call in glibc and musl, which systemd's `@system-service` filter allows.
pub fn raise_nofile() -> io::Result<NofileLimit> {
    let lim = getrlimit()?;
    let (soft, hard) = (lim.rlim_cur, lim.rlim_max);
    if soft >= hard {
        return Ok(NofileLimit { soft, hard, raised_from: None });
    }
    let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
    // SAFETY: setrlimit reads one valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        log::debug!("cannot raise the open-files limit from {soft} to {hard}: {}", io::Error::last_os_error());
        return Ok(NofileLimit { soft, hard, raised_from: None });
    }
    let now = getrlimit()?;
    Ok(NofileLimit { soft: now.rlim_cur, hard: now.rlim_max, raised_from: Some(soft) })
}

/// The connections `soft` descriptors allow: one each (patched tiny_http), after [`RESERVED_FDS`]; at least half
/// of a very small limit.
pub fn connections_allowed(soft: u64) -> usize {
    let n = soft.saturating_sub(RESERVED_FDS).max(soft / 2).max(1);
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `configured` clamped to what `limit` allows, with the warning to log when it was lowered.
pub fn clamp_connections(configured: usize, limit: &NofileLimit) -> (usize, Option<String>) {
    let allowed = connections_allowed(limit.soft);
    if configured <= allowed {
        return (configured, None);
    }
    let warning = format!(
        "server.maxConnections {configured} does not fit the open-files limit of {} (one descriptor per connection \
         plus {RESERVED_FDS} reserved): using {allowed}. Raise the limit (LimitNOFILE={} in the systemd unit, \
         ulimit -n for a shell) or lower server.maxConnections",
        limit.soft,
        configured as u64 + RESERVED_FDS,
    );
    (allowed, Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_arithmetic() {
        let lim = |soft| NofileLimit { soft, hard: soft, raised_from: None };
        assert_eq!(connections_allowed(1024), 924);
        assert_eq!(connections_allowed(128), 64);
        assert_eq!(connections_allowed(0), 1);
        assert_eq!(clamp_connections(512, &lim(1024)), (512, None));
        let (n, warning) = clamp_connections(5000, &lim(1024));
        assert_eq!(n, 924);
        let warning = warning.unwrap_or_default();
        assert!(warning.contains("server.maxConnections 5000") && warning.contains("limit of 1024"), "{warning}");
        assert!(warning.contains("LimitNOFILE=5100"), "{warning}");
        assert_eq!(clamp_connections(65536, &lim(70000)), (65536, None));
    }

    #[test]
    fn the_limit_is_readable() {
        let l = raise_nofile().unwrap();
        assert!(l.soft > 0 && l.soft <= l.hard);
    }
}
