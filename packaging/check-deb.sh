#!/usr/bin/env bash
# Installs the .deb into a scratch root (dpkg --root, maintainer scripts chrootless with $DPKG_ROOT) and checks
# paths, owners and modes; then an upgrade over an edited config (kept), removal (config kept) and purge.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls dist/nbu-exporter_*_amd64.deb)
r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers" "$r/etc"
touch "$r/var/lib/dpkg/status"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\n' > "$r/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$r/etc/shadow"
printf 'root:*::\n' > "$r/etc/gshadow"
dpkg_root() { dpkg --root="$r" --force-script-chrootless --force-depends --log=/dev/null "$@"; }
fail() { echo "check-deb: $*" >&2; exit 1; }

dpkg_root -i "$deb" >/dev/null
grep -q '^nbu_exporter:.*:/nonexistent:/usr/sbin/nologin$' "$r/etc/passwd" || fail "service user not created: $(cat "$r/etc/passwd")"
gid=$(awk -F: '$1 == "nbu_exporter" { print $3 }' "$r/etc/group")
[ -n "$gid" ] || fail "service group not created"
expect() { # path mode uid gid
    got=$(stat -c '%a %u %g' "$r/$1" 2>/dev/null) || fail "missing $1"
    [ "$got" = "$2 $3 $4" ] || fail "$1: got mode/uid/gid '$got', want '$2 $3 $4'"
    echo "ok $1 $got"
}
expect usr/bin/nbu_exporter 755 0 0
expect lib/systemd/system/nbu_exporter.service 644 0 0
expect usr/lib/sysusers.d/nbu_exporter.conf 644 0 0
expect etc/nbu_exporter 750 0 "$gid"
expect etc/nbu_exporter/config.yaml 640 0 "$gid"
expect usr/share/doc/nbu-exporter/copyright 644 0 0
"$r/usr/bin/nbu_exporter" --version | grep -q '^nbu_exporter, version ' || fail "installed binary does not run"
# The README's step 2-3: the key file beside the config, then --check-config.
install -m 0640 /dev/null "$r/etc/nbu_exporter/nbu_api_key"
printf 'test-key\n' > "$r/etc/nbu_exporter/nbu_api_key"
[ "$("$r/usr/bin/nbu_exporter" --check-config "$r/etc/nbu_exporter/config.yaml")" = OK ] || fail "the packaged config does not validate"
echo "ok the packaged config validates with the key in nbu_api_key"

echo "# edited by the admin" >> "$r/etc/nbu_exporter/config.yaml"
dpkg_root --force-confold -i "$deb" >/dev/null
grep -q '^# edited by the admin$' "$r/etc/nbu_exporter/config.yaml" || fail "upgrade replaced the edited config"
expect etc/nbu_exporter/config.yaml 640 0 "$gid"
echo "ok upgrade keeps the edited config"

dpkg_root -r nbu-exporter >/dev/null
[ ! -e "$r/usr/bin/nbu_exporter" ] || fail "remove left the binary"
[ -e "$r/etc/nbu_exporter/config.yaml" ] || fail "remove deleted the config (only purge may)"
dpkg_root -P nbu-exporter >/dev/null
[ ! -e "$r/etc/nbu_exporter/config.yaml" ] || fail "purge left the config"
echo "ok remove keeps the config, purge deletes it"
