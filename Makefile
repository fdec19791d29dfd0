# nbu_exporter — `make demo` runs the exporter against the bundled simulator, `make test` runs the tests.

CARGO ?= cargo
DEMO_KEY ?= demo-api-key
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: build test lint demo bench fuzz soak static tarball deb rpm packages package-check test-static systemd-check clean

build:
	$(CARGO) build --release --bins

test:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --lib --bins --tests --no-fail-fast
else
	$(CARGO) test --lib --bins --tests --no-fail-fast
endif

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Starts the simulator (NetBackup 10.4, API 11.0) on 127.0.0.1:1556 and the exporter on :2112 with config.yaml.
# Ctrl-C stops both.
demo:
	$(CARGO) build --bins
	@set -e; \
	./target/debug/nbu-sim --listen 127.0.0.1:1556 --release 10.4 --api-key $(DEMO_KEY) & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	sleep 0.5; \
	echo; echo "==> metrics: http://localhost:2112/metrics   status page: http://localhost:2112/"; echo; \
	NBU_API_KEY=$(DEMO_KEY) ./target/debug/nbu_exporter --config.file config.yaml

# Fully static x86_64 binaries in dist/ (musl, else glibc +crt-static; the script says which).
static:
	bash packaging/static.sh

tarball: static
	bash packaging/build.sh tarball

deb: static
	bash packaging/build.sh deb

rpm: static
	bash packaging/build.sh rpm

packages: static
	bash packaging/build.sh tarball
	bash packaging/build.sh deb
	bash packaging/build.sh rpm

# Installs the .deb into a scratch root, inspects the .rpm, verifies the systemd unit.
package-check:
	bash packaging/check-deb.sh
	bash packaging/check-rpm.sh
	sed "s|/usr/bin/nbu_exporter|$(CURDIR)/dist/nbu_exporter|" systemd/nbu_exporter.service > dist/nbu_exporter.service
	systemd-analyze verify dist/nbu_exporter.service
	systemd-analyze security --offline=true dist/nbu_exporter.service | tail -n 1

# The README's install steps under a real systemd, in a container booted from a throw-away overlay of / (root).
systemd-check:
	bash packaging/check-systemd.sh

# The core integration tests against the static binaries in dist/.
test-static: static
	NBU_EXPORTER_BIN=$(CURDIR)/dist/nbu_exporter NBU_SIM_BIN=$(CURDIR)/dist/nbu-sim \
	  $(CARGO) nextest run --test jobs --test sites --test cli --test ops --test dns --test hardening_http \
	  --test hardening --test counting --no-fail-fast

# Randomised-input tests of the JSON models, date/duration parsers and config parser: 60 s per target.
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --release --test fuzz -- --nocapture --test-threads 1

# Soak: churn, faults every few seconds, reloads, continuous scrapes; SOAK_SECONDS (default 600). Against the
# static binaries that ship: their RSS is what the soak bounds (a glibc build's per-thread malloc arenas grow RSS
# as the walks' worker threads come and go, which the shipped musl binary does not have).
soak: static
	NBU_EXPORTER_BIN=$(CURDIR)/dist/nbu_exporter NBU_SIM_BIN=$(CURDIR)/dist/nbu-sim \
	  SOAK_SECONDS=$${SOAK_SECONDS:-600} $(CARGO) test --release --test soak -- --ignored --nocapture

# The performance targets against the simulator, with the static binaries that ship; writes BENCHMARKS.md.
bench: static
	NBU_EXPORTER_BIN=$(CURDIR)/dist/nbu_exporter NBU_SIM_BIN=$(CURDIR)/dist/nbu-sim $(CARGO) bench --bench bench

clean:
	$(CARGO) clean
