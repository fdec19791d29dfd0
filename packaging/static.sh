#!/usr/bin/env bash
# Builds fully static x86_64 Linux binaries into dist/ and says which route was used.
#   Route 1 (preferred): musl — `rustup target add x86_64-unknown-linux-musl` + Debian's musl-tools (musl-gcc for ring).
#   Route 2 (fallback):  glibc with +crt-static and an explicit --target (needed, or proc-macros fail to load).
# Why musl first: smaller, no NSS dlopen at run time. Its resolver is simpler than glibc's; the DNS tests
# (tests/dns.rs) cover /etc/hosts, a normal resolver and one that refuses AAAA queries for whichever route built it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
route=""

# Build identity for `nbu_exporter --version` (build.rs bakes it in): the environment first, else git when this
# directory is itself a checkout (not a tarball unpacked inside another repository), else a top-level REVISION
# file as a source tarball carries (line 1: the sha, optional line 2: the branch); unset, build.rs says "unknown".
src_rev="" src_branch="" src=""
if [ -e .git ] && src_rev=$(git rev-parse HEAD 2>/dev/null) && [ -n "$src_rev" ]; then
  src=git
  src_branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || true)
  [ "$src_branch" != HEAD ] || src_branch="" # detached HEAD names no branch
elif [ -f REVISION ]; then
  src="REVISION file"
  src_rev=$(sed -n 1p REVISION | tr -d '[:space:]')
  src_branch=$(sed -n 2p REVISION | tr -d '[:space:]')
else
  src_rev=""
fi
if [ -n "${NBU_EXPORTER_REVISION:-}" ]; then
  rev_from=environment
elif [ -n "$src_rev" ]; then
  export NBU_EXPORTER_REVISION="$src_rev"
  rev_from=$src
else
  unset NBU_EXPORTER_REVISION
  rev_from="no environment, git or REVISION file"
fi
if [ -z "${NBU_EXPORTER_BRANCH:-}" ]; then
  if [ -n "$src_branch" ]; then export NBU_EXPORTER_BRANCH="$src_branch"; else unset NBU_EXPORTER_BRANCH; fi
fi
echo "static: baking in revision ${NBU_EXPORTER_REVISION:-unknown} (from $rev_from), branch ${NBU_EXPORTER_BRANCH:-unknown}"

musl_ready() {
  rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl || timeout 300 rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || return 1
  if ! command -v musl-gcc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      (apt-get update -qq && apt-get install -y -qq musl-tools) >/dev/null 2>&1 || return 1
    else
      return 1
    fi
  fi
}

if [ "${NBU_STATIC_ROUTE:-}" != glibc ] && musl_ready && \
   cargo build --release --bins --target x86_64-unknown-linux-musl; then
  route=musl
  out=target/x86_64-unknown-linux-musl/release
else
  echo "static: musl route unavailable, using glibc +crt-static" >&2
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --bins --target x86_64-unknown-linux-gnu
  route=glibc
  out=target/x86_64-unknown-linux-gnu/release
fi
cp "$out/nbu_exporter" "$out/nbu-sim" dist/
echo "$route" > dist/ROUTE

# (Not `tee /dev/stderr`: reopening stderr truncates a log file that stderr points to.)
kind=$(file dist/nbu_exporter)
echo "$kind"
grep -Eq "statically linked|static-pie linked" <<<"$kind" || { echo "static: dist/nbu_exporter is not static" >&2; exit 1; }
# A static-pie binary (musl's default, keeps ASLR) makes ldd say "statically linked"; a non-PIE one
# "not a dynamic executable". Anything else means shared libraries.
ldd dist/nbu_exporter 2>&1 | grep -Eq "statically linked|not a dynamic executable" || { ldd dist/nbu_exporter; echo "static: ldd lists shared libraries" >&2; exit 1; }
size=$(stat -c %s dist/nbu_exporter)
echo "static: route=$route size=$size bytes ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB) -> dist/nbu_exporter"
if [ "$size" -gt $((3 * 1024 * 1024)) ]; then echo "static: larger than the 3 MiB target" >&2; fi
