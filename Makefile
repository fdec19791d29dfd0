# nbu_exporter — `make demo` runs the exporter against the bundled simulator, `make test` runs the tests.

CARGO ?= cargo
DEMO_KEY ?= demo-api-key
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: build test lint demo bench static clean

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

# Size-tuned release build and its size (a fully static build arrives with the packaging work).
static: build
	@ls -l target/release/nbu_exporter | awk '{print "target/release/nbu_exporter: " $$5 " bytes"}'

# Minimal benchmark until the performance work: scrape latency of the release build against the simulator.
bench: build
	$(CARGO) bench --bench scrape

clean:
	$(CARGO) clean
