#!/usr/bin/env bash
# Checks the .rpm's file list, owners, modes, config flags and scriptlets (rpm -qlp; rpm tools from apt).
set -euo pipefail
cd "$(dirname "$0")/.."
rpm=$(ls dist/nbu_exporter-*.x86_64.rpm)
fail() { echo "check-rpm: $*" >&2; exit 1; }
dump=$(rpm -qlp --dump "$rpm" 2>/dev/null | awk '{print $1, $5, $6, $7}')
expect() { grep -qx "$1" <<<"$dump" || fail "missing or wrong: '$1' in:"$'\n'"$dump"; echo "ok $1"; }
expect "/usr/bin/nbu_exporter 0100755 root root"
expect "/usr/lib/systemd/system/nbu_exporter.service 0100644 root root"
expect "/usr/lib/sysusers.d/nbu_exporter.conf 0100644 root root"
expect "/etc/nbu_exporter 040750 root nbu_exporter"
expect "/etc/nbu_exporter/config.yaml 0100640 root nbu_exporter"
expect "/usr/share/licenses/nbu_exporter/LICENSE 0100644 root root"
[ "$(wc -l <<<"$dump")" -eq 8 ] || fail "unexpected files:"$'\n'"$dump"
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpm" 2>/dev/null | grep '^/etc/nbu_exporter/config.yaml ')
[ "$flags" = "/etc/nbu_exporter/config.yaml cn" ] || fail "config.yaml must be %config(noreplace): $flags"
echo "ok config.yaml is %config(noreplace): upgrades keep an edited file"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
grep -q 'useradd -r -g nbu_exporter' <<<"$scripts" || fail "no service user creation in %pre"
grep -q 'disable --now nbu_exporter.service' <<<"$scripts" || fail "removal does not stop the service"
echo "ok scriptlets create the user and stop the service on removal"
