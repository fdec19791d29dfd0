#!/usr/bin/env bash
# Packages dist/nbu_exporter (from packaging/static.sh) as a node_exporter-style tarball, a .deb and an .rpm.
#   packaging/build.sh tarball|deb|rpm
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:?usage: packaging/build.sh tarball|deb|rpm}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -x dist/nbu_exporter ] || { echo "build: dist/nbu_exporter missing; run make static first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "$what" in
tarball)
    name="nbu_exporter-$version.linux-amd64"
    mkdir -p "$work/$name"
    install -m 0755 dist/nbu_exporter "$work/$name/nbu_exporter"
    install -m 0644 LICENSE README.md "$work/$name/"
    install -m 0644 packaging/config.yaml "$work/$name/config.yaml"
    install -m 0644 systemd/nbu_exporter.service "$work/$name/nbu_exporter.service"
    tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"
    echo "dist/$name.tar.gz"
    ;;
deb)
    root="$work/root"
    install -D -m 0755 dist/nbu_exporter "$root/usr/bin/nbu_exporter"
    install -D -m 0644 systemd/nbu_exporter.service "$root/lib/systemd/system/nbu_exporter.service"
    install -D -m 0644 packaging/sysusers.conf "$root/usr/lib/sysusers.d/nbu_exporter.conf"
    install -d -m 0750 "$root/etc/nbu_exporter"
    install -m 0640 packaging/config.yaml "$root/etc/nbu_exporter/config.yaml"
    install -D -m 0644 README.md "$root/usr/share/doc/nbu-exporter/README.md"
    install -m 0644 docs/metrics.md "$root/usr/share/doc/nbu-exporter/metrics.md"
    install -m 0644 LICENSE "$root/usr/share/doc/nbu-exporter/copyright"
    install -d "$root/DEBIAN"
    install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
    echo /etc/nbu_exporter/config.yaml > "$root/DEBIAN/conffiles"
    cat > "$root/DEBIAN/control" <<CONTROL
Package: nbu-exporter
Version: $version
Architecture: amd64
Maintainer: nbu_exporter authors <nbu-exporter@example.com>
Section: net
Priority: optional
Depends: passwd
Installed-Size: $(du -sk "$root" | cut -f1)
Homepage: https://github.com/nbu-exporter/nbu_exporter
Description: Prometheus exporter for Veritas/Cohesity NetBackup
 Exports NetBackup job outcomes, states, queues, durations and transferred
 bytes, and storage unit capacity, as Prometheus metrics. Static binary.
CONTROL
    dpkg-deb --root-owner-group -Zgzip --build "$root" "dist/nbu-exporter_${version}_amd64.deb" >/dev/null
    echo "dist/nbu-exporter_${version}_amd64.deb"
    ;;
rpm)
    command -v rpmbuild >/dev/null || { echo "build: rpmbuild missing (Debian: apt-get install rpm)" >&2; exit 1; }
    stage="$work/stage"
    mkdir -p "$stage" "$work/top"
    cp dist/nbu_exporter systemd/nbu_exporter.service packaging/sysusers.conf packaging/config.yaml README.md \
       docs/metrics.md LICENSE "$stage/"
    rpmbuild -bb --quiet --define "_topdir $work/top" --define "version $version" --define "stage $stage" \
        packaging/rpm/nbu_exporter.spec
    cp "$work"/top/RPMS/x86_64/*.rpm dist/
    ls dist/*.rpm
    ;;
*)
    echo "build: unknown target $what" >&2; exit 2 ;;
esac
