//! The standard `process_*` metrics of the exporter itself, read from /proc (Linux).

use std::fmt::Write;

fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; everything after its closing parenthesis is fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat").ok()?.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// Renders the process metrics; families whose source is unreadable are left out.
pub fn render() -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n");
    };
    // SAFETY: sysconf and getrlimit only read process parameters into values we own.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK) as f64, libc::sysconf(libc::_SC_PAGESIZE) as f64) };
    if let Some(f) = stat_fields() {
        // After the name: state is f[0]; utime f[11], stime f[12], num_threads f[17], starttime f[19],
        // vsize f[20], rss f[21] (proc(5) fields 14, 15, 20, 22, 23, 24).
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(u), Some(s)) = (num(11), num(12)) {
            gauge(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                (u + s) / ticks,
            );
        }
        if let Some(rss) = num(21) {
            gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss * page);
        }
        if let Some(vsize) = num(20) {
            gauge("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize);
        }
        if let (Some(start), Some(boot)) = (num(19), boot_time()) {
            gauge(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot + start / ticks,
            );
        }
        if let Some(t) = num(17) {
            gauge("process_threads", "gauge", "Number of OS threads in the process.", t);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge("process_open_fds", "gauge", "Number of open file descriptors.", fds.count() as f64);
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: see above.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        gauge("process_max_fds", "gauge", "Maximum number of open file descriptors.", lim.rlim_cur as f64);
    }
    out
}
