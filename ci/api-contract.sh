#!/usr/bin/env bash
# The API contract: schemathesis (every check, its stateful phase included) against a real
# leaf, reading the OpenAPI document that leaf serves. Any failure fails the script.
#
#   ci/api-contract.sh           what `make test` runs: a fixed seed, a budget of about a minute
#   ci/api-contract.sh --fuzz    `make fuzz-api`: a random seed, ten minutes per token
#
# Two runs, one per kind of token:
#   - a TD's token, on every operation;
#   - a viewer link's token, with `{id}` set to its own tournament (with random ids a viewer
#     only ever sees 403), so its reads are fuzzed through their query parameters.
#
# Environment: LEAF_BIN (default target/debug/leaf), LEAF_NATS_SERVER (default the one in
# .tools/), ST (default .tools/schemathesis/bin/st), CONTRACT_SEED, CONTRACT_EXAMPLES,
# CONTRACT_MAX_TIME (seconds of fuzzing per run; --fuzz only).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LEAF_BIN=${LEAF_BIN:-$ROOT/target/debug/leaf}
NATS=${LEAF_NATS_SERVER:-$ROOT/.tools/venv/bin/nats-server}
ST=${ST:-$ROOT/.tools/schemathesis/bin/st}
FUZZ=false
[ "${1:-}" = --fuzz ] && FUZZ=true

for tool in "$LEAF_BIN" "$NATS" "$ST"; do
  [ -x "$tool" ] || { echo "api-contract: $tool is missing (make deps, and build leaf first)" >&2; exit 1; }
done

WORK=$(mktemp -d)
LEAF_PID=
finish() {
  if [ -n "$LEAF_PID" ] && kill -0 "$LEAF_PID" 2>/dev/null; then
    kill -TERM "$LEAF_PID"
    wait "$LEAF_PID" || true
  fi
  rm -rf "$WORK"
}
trap finish EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$port"
PIN=$(python3 -c 'import secrets; print(secrets.randbelow(10**8) + 10**8)')
echo "$PIN" | "$LEAF_BIN" --data-dir "$WORK/data" td add contract-td >/dev/null

# The per-token page rate is a read budget, tested on its own (tests/hostile.rs); here it
# would only turn schemathesis's quick sequence of reads into 503s.
"$LEAF_BIN" --data-dir "$WORK/data" --addr "127.0.0.1:$port" --nats-server "$NATS" \
  --log-pages-per-token-per-second 100000 >"$WORK/leaf.log" 2>&1 &
LEAF_PID=$!
for _ in $(seq 300); do
  curl -sf "$BASE/api/v1/health" >/dev/null && break
  kill -0 "$LEAF_PID" 2>/dev/null || break
  sleep 0.1
done
if ! curl -sf "$BASE/api/v1/health" >/dev/null; then
  echo "api-contract: leaf did not become healthy; its log:" >&2
  tail -50 "$WORK/leaf.log" >&2
  exit 1
fi

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST -H 'content-type: application/json' "${@:3}" -d "$2" "$BASE$1"; }
TD=$(post /api/v1/auth/login "{\"name\":\"contract-td\",\"pin\":\"$PIN\"}" | json '["token"]')
TOURNAMENT=$(post /api/v1/tournaments '{"name":"Contract"}' -H "authorization: Bearer $TD" | json '["id"]')
post "/api/v1/tournaments/$TOURNAMENT/events" '{"type":"level","data":{"level":1}}' -H "authorization: Bearer $TD" >/dev/null
VIEWER=$(post "/api/v1/tournaments/$TOURNAMENT/viewer-links" '{}' -H "authorization: Bearer $TD" | json '["token"]')

if $FUZZ; then
  SEED=${CONTRACT_SEED:-$(python3 -c 'import secrets; print(secrets.randbelow(2**31))')}
  BUDGET=(--max-time "${CONTRACT_MAX_TIME:-600}" --max-examples "${CONTRACT_EXAMPLES:-1000}")
else
  SEED=${CONTRACT_SEED:-20261201}
  BUDGET=(--max-examples "${CONTRACT_EXAMPLES:-100}")
fi
echo "api-contract: leaf at $BASE, seed $SEED"

cat >"$WORK/viewer.toml" <<EOF
[parameters]
"path.id" = "$TOURNAMENT"
EOF

run() {
  local who=$1 config=$2 token=$3
  echo "api-contract: as $who"
  local started=$SECONDS
  # No example database: each run starts from its seed alone, and nothing is written into
  # the work tree.
  "$ST" ${config:+--config-file "$config"} run "$BASE/api/v1/openapi.json" \
    --checks all --seed "$SEED" "${BUDGET[@]}" --workers 1 \
    --generation-database none --no-color \
    -H "Authorization: Bearer $token"
  echo "api-contract: as $who: passed in $((SECONDS - started)) s"
}

run "a TD" "" "$TD"
run "a viewer of one tournament" "$WORK/viewer.toml" "$VIEWER"
