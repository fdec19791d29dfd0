//! Test certificates made with the openssl command-line tool: a CA, server certificates with and without
//! subjectAltName, client certificates, and a second unrelated CA.

use std::path::Path;
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA, a server certificate for 127.0.0.1 signed by it, and one without subjectAltName.
pub fn make_certs(dir: &Path) {
    make_ca(dir, "ca");
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    std::fs::write(dir.join("nosan.ext"), "basicConstraints=CA:FALSE\n").unwrap();
    for (name, ext) in [("srv", "san.ext"), ("nosan", "nosan.ext")] {
        sign(dir, name, "ca", "/CN=127.0.0.1", ext);
    }
}

/// A new key `name.key` and certificate `name.pem` for `subject`, signed by the CA `ca` with the extensions in the
/// file `ext`.
pub fn sign(dir: &Path, name: &str, ca: &str, subject: &str, ext: &str) {
    let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    );
}

/// A client certificate `name.pem`/`name.key` (extendedKeyUsage clientAuth) signed by the CA `ca`.
pub fn make_client_cert(dir: &Path, name: &str, ca: &str) {
    std::fs::write(dir.join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").unwrap();
    sign(dir, name, ca, "/CN=prometheus", "client.ext");
}

/// A self-signed CA `name.pem`/`name.key`.
pub fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A self-signed certificate `name.pem`/`name.key` for 127.0.0.1 (with subjectAltName), marked as a CA or not:
/// how NetBackup web-service certificates made by hand often look.
pub fn self_signed(dir: &Path, name: &str, ca: bool) {
    let constraints = if ca { "critical,CA:TRUE" } else { "critical,CA:FALSE" };
    let (key, pem, subj) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={name}"));
    let bc = format!("basicConstraints={constraints}");
    #[rustfmt::skip]
    let args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj,
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", &bc,
    ];
    openssl(dir, &args);
}
