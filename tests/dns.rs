//! Name resolution of NetBackup hosts by the binary under test (the static build in `make test-static`): through
//! /etc/hosts, through a DNS server, and through a DNS server that refuses AAAA queries. The DNS server and the
//! bind-mounted resolv.conf/hosts live in private mount and network namespaces (`unshare`), so the host's own
//! configuration is never touched. Needs root; otherwise the test says SKIPPED.

mod common;

use std::process::Command;

#[test]
fn hosts_file_dns_and_a_resolver_refusing_aaaa() {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let have = |cmd: &str| {
        Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success())
    };
    if !root || !have("unshare") || !have("python3") || !have("ip") {
        eprintln!("SKIPPED: the DNS test needs root, unshare, ip and python3 to run in private namespaces");
        return;
    }
    let dir = common::scratch_dir();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dns_check.py");
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--fork", "python3", script])
        .arg(common::exporter_bin())
        .arg(common::sim_bin())
        .arg(&dir)
        .output()
        .expect("run unshare");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("OK: /etc/hosts, DNS, and a resolver refusing AAAA all resolve"), "{text}");
}
