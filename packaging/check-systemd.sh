#!/usr/bin/env bash
# Follows the README's "Install on a NetBackup primary" literally under a real systemd: boots this machine's OS in a
# systemd-nspawn container (a throw-away overlay of /, so nothing on the host changes), installs the .deb and then the
# .rpm, and checks start, sandboxing, metrics, `systemctl reload` (good and bad edits), stop, remove and purge against
# the simulator running on the host's loopback (the container shares the host's network).
# Needs root and dist/ from `make packages`; installs Debian's systemd-container when systemd-nspawn is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
fail() { echo "check-systemd: FAIL: $*" >&2; exit 1; }
say() { echo "check-systemd: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (systemd-nspawn and mounts); run it as root or skip it"
deb=$(ls "$repo"/dist/nbu-exporter_*_amd64.deb 2>/dev/null) || fail "no .deb in dist/: run make packages first"
rpmf=$(ls "$repo"/dist/nbu_exporter-*.x86_64.rpm 2>/dev/null) || fail "no .rpm in dist/: run make packages first"
[ -x "$repo/dist/nbu-sim" ] || fail "no dist/nbu-sim: run make static first"
if ! command -v systemd-nspawn >/dev/null 2>&1; then
    say "systemd-nspawn missing: installing Debian's systemd-container"
    apt-get update -qq && apt-get install -y -qq systemd-container >/dev/null
fi
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if (exec 3<>/dev/tcp/127.0.0.1/2112) 2>/dev/null; then
    fail "port 2112 is in use on this host; the packaged config listens there (stop whatever holds it)"
fi

key="nbu-systemd-check-$RANDOM$RANDOM"
ov=$(mktemp -d /run/nbu-systemd-check.XXXXXX)
root="$ov/root"
sim_pid=""
nspawn_pid=""
cleanup() {
    set +e
    if [ -n "$nspawn_pid" ]; then
        kill "$nspawn_pid" 2>/dev/null # nspawn turns SIGTERM into an orderly container shutdown
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    umount "$root" 2>/dev/null
    umount "$ov" 2>/dev/null
    rmdir "$ov" 2>/dev/null
}
trap cleanup EXIT

# The simulator on the host.
"$repo/dist/nbu-sim" --listen 127.0.0.1:0 --release 10.4 --api-key "$key" --seed 7 >"$ov.sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 50); do grep -q 'listening on' "$ov.sim.log" && break; sleep 0.1; done
sim_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$ov.sim.log" | head -n 1)
[ -n "$sim_port" ] || fail "the simulator did not start: $(cat "$ov.sim.log")"
rm -f "$ov.sim.log"

# A writable overlay of / on tmpfs: the container's root.
mount -t tmpfs -o size=1g,mode=0700 tmpfs "$ov"
mkdir -p "$ov/upper" "$ov/work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$root"
cp "$deb" "$rpmf" "$root/root/"
# Services of this machine image that have nothing to do with the check.
for unit in postgresql.service prometheus.service prometheus-node-exporter.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer man-db.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
say "booting $(systemd --version | head -n 1) in a container"
systemd-nspawn -D "$root" --boot --register=no --keep-unit --machine=nbu-check --console=pipe \
    >"$ov/console.log" 2>&1 </dev/null &
nspawn_pid=$!
leader=""
for _ in $(seq 100); do
    leader=$(pgrep -P "$nspawn_pid" -x systemd || true)
    [ -n "$leader" ] && break
    sleep 0.2
done
[ -n "$leader" ] || fail "the container's systemd did not start: $(cat "$ov/console.log")"
ct() { nsenter -t "$leader" -a "$@"; }
state=""
for _ in $(seq 150); do
    state=$(ct systemctl is-system-running 2>/dev/null || true)
    case "$state" in running | degraded) break ;; esac
    sleep 0.2
done
case "$state" in running | degraded) say "container booted ($state)" ;; *) fail "container did not boot: $state" ;; esac

metrics() { ct curl -sf --max-time 5 http://localhost:2112/metrics; }
wait_metric() { # regex, what
    for _ in $(seq 100); do
        metrics 2>/dev/null | grep -Eq "$1" && return 0
        sleep 0.2
    done
    fail "$2: no line matching '$1' in /metrics"
}
main_pid() { ct systemctl show -p MainPID --value nbu_exporter; }
reloads_ok() {
    metrics | awk '/^nbu_exporter_config_reloads_total\{.*result="success"/ { n += $2 } END { print n + 0 }'
}

# The README's steps 2-7, for one installed package.
install_and_run() { # package label
    local what=$1
    ct id nbu_exporter >/dev/null || fail "$what: the service user nbu_exporter was not created"
    ct systemctl cat nbu_exporter.service >/dev/null || fail "$what: systemd does not know nbu_exporter.service"
    # 2. The API key where LoadCredential= picks it up.
    ct install -m 0640 -g nbu_exporter /dev/null /etc/nbu_exporter/nbu_api_key
    ct sh -c "printf '%s\n' '$key' > /etc/nbu_exporter/nbu_api_key"
    # 3. Point it at the primary (the simulator, plain HTTP) and check the config.
    ct sed -i -e 's/^\(    host:\).*/\1 "127.0.0.1"/' -e "s/^\(    port:\) 1556/\1 $sim_port/" \
        -e 's/^\(    scheme:\).*/\1 "http"/' /etc/nbu_exporter/config.yaml
    [ "$(ct nbu_exporter --check-config /etc/nbu_exporter/config.yaml)" = OK ] || fail "$what: --check-config failed"
    # 4. Enable and start: Type=notify, so this returns once the exporter said READY=1.
    ct systemctl enable --now nbu_exporter >/dev/null 2>&1 || fail "$what: systemctl enable --now failed:
$(ct journalctl -u nbu_exporter --no-pager | tail -n 20)"
    [ "$(ct systemctl is-active nbu_exporter)" = active ] || fail "$what: not active after start"
    [ "$(ct systemctl is-enabled nbu_exporter)" = enabled ] || fail "$what: not enabled"
    # 6. Verify.
    wait_metric '^nbu_up\{site="primary"\} 1$' "$what: nbu_up"
    wait_metric '^nbu_jobs_count\{' "$what: job series"
    ct curl -sf --max-time 10 http://localhost:2112/health >/dev/null || fail "$what: /health is not 200"
    local pid
    pid=$(main_pid)
    [ "$(ct ps -o user= -p "$pid")" = nbu_exporter ] || fail "$what: runs as $(ct ps -o user= -p "$pid")"
    local status
    status=$(ct cat "/proc/$pid/status")
    grep -Eq '^NoNewPrivs:[[:space:]]+1$' <<<"$status" || fail "$what: NoNewPrivs is not set"
    grep -Eq '^Seccomp:[[:space:]]+2$' <<<"$status" || fail "$what: no seccomp filter (SystemCallFilter)"
    grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$status" || fail "$what: has capabilities"
    [ -n "$(ct systemctl show -p StatusText --value nbu_exporter)" ] || fail "$what: no STATUS= from sd_notify"
    say "$what: started as nbu_exporter (pid $pid, seccomp, no capabilities), nbu_up 1"

    # 5. After edits: systemctl reload. A good edit is applied; the process stays the same.
    local before after
    before=$(reloads_ok)
    ct sed -i 's/^\(  collectionInterval:\).*/\1 "30s"/' /etc/nbu_exporter/config.yaml
    ct systemctl reload nbu_exporter || fail "$what: systemctl reload failed"
    for _ in $(seq 50); do
        after=$(reloads_ok)
        [ "$after" -gt "$before" ] && break
        sleep 0.2
    done
    [ "$after" -gt "$before" ] || fail "$what: no successful reload counted after systemctl reload"
    wait_metric '^nbu_exporter_config_last_reload_successful 1$' "$what: good reload"
    [ "$(main_pid)" = "$pid" ] || fail "$what: reload restarted the process"
    # A bad edit is refused with a log line naming the key; the running config keeps serving.
    ct sed -i 's/^\(  collectionInterval:\).*/\1 "often"/' /etc/nbu_exporter/config.yaml
    ct systemctl reload nbu_exporter || fail "$what: systemctl reload (bad edit) failed"
    wait_metric '^nbu_exporter_config_last_reload_successful 0$' "$what: bad reload"
    [ "$(ct systemctl is-active nbu_exporter)" = active ] || fail "$what: a bad edit stopped the service"
    wait_metric '^nbu_up\{site="primary"\} 1$' "$what: nbu_up after a bad edit"
    local named=""
    for _ in $(seq 50); do # journald receives stderr asynchronously
        ct journalctl -u nbu_exporter --no-pager | grep -q 'collectionInterval.*often' && named=yes && break
        sleep 0.2
    done
    [ -n "$named" ] || fail "$what: the journal does not name the bad key:
$(ct journalctl -u nbu_exporter --no-pager | tail -n 5)"
    ct sed -i 's/^\(  collectionInterval:\).*/\1 "1m"/' /etc/nbu_exporter/config.yaml
    ct systemctl reload nbu_exporter
    wait_metric '^nbu_exporter_config_last_reload_successful 1$' "$what: reload after the fix"
    say "$what: systemctl reload applies a good edit, refuses a bad one (service stays up), same pid"

    # Secrets: never in the journal.
    if ct journalctl --no-pager | grep -qF "$key"; then fail "$what: the API key appears in the journal"; fi
    # Stop within the unit's budget, then start again for the uninstall step.
    local t0=$SECONDS stop_s
    ct systemctl stop nbu_exporter
    stop_s=$((SECONDS - t0))
    [ "$stop_s" -le 6 ] || fail "$what: stop took $stop_s s"
    [ "$(ct systemctl is-active nbu_exporter || true)" = inactive ] || fail "$what: still running after stop"
    ct systemctl start nbu_exporter
    wait_metric '^nbu_up\{site="primary"\} 1$' "$what: nbu_up after restart"
    say "$what: systemctl stop took ${stop_s} s (whole seconds); no API key in the journal"
}

# Debian package.
ct dpkg -i "/root/$(basename "$deb")" >/dev/null || fail "dpkg -i failed"
install_and_run deb
ct dpkg -r nbu-exporter >/dev/null || fail "dpkg -r failed"
[ "$(ct systemctl is-active nbu_exporter 2>/dev/null || true)" != active ] || fail "deb: dpkg -r left it running"
(exec 3<>/dev/tcp/127.0.0.1/2112) 2>/dev/null && fail "deb: something still listens on 2112 after dpkg -r"
ct test -f /etc/nbu_exporter/config.yaml || fail "deb: dpkg -r removed the edited config"
ct dpkg -P nbu-exporter >/dev/null || fail "dpkg -P failed"
ct test ! -e /etc/nbu_exporter/config.yaml || fail "deb: dpkg -P kept the config"
say "deb: dpkg -r stops and disables the service and keeps the config; dpkg -P removes it"

# RPM package (Debian's rpm has an empty database, hence --nodeps; the scriptlets are what is checked).
ct rpm -i --nodeps "/root/$(basename "$rpmf")" || fail "rpm -i failed"
install_and_run rpm
ct rpm -e nbu_exporter || fail "rpm -e failed"
[ "$(ct systemctl is-active nbu_exporter 2>/dev/null || true)" != active ] || fail "rpm: rpm -e left it running"
say "rpm: rpm -e stops and disables the service"
say "OK: the README's install steps work under a real systemd"
