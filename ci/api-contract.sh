#!/usr/bin/env bash
# The API contract: schemathesis (every check, its stateful phase included) against a real
# leaf, reading the OpenAPI document that leaf serves. Any failure fails the script.
#
#   ci/api-contract.sh           what `make test` runs: a fixed seed, 100 examples an operation
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
  [ -x "$tool" ] || { echo "api-contract: $tool is missing (make deps-contract, and build leaf first)" >&2; exit 1; }
done

WORK=$(mktemp -d)
LEAF_PID=
finish() {
  local status=$?
  if [ "$status" != 0 ] && [ -f "$WORK/leaf.log" ]; then
    echo "api-contract: failed; the last lines of leaf's log:" >&2
    tail -40 "$WORK/leaf.log" >&2
  fi
  if [ -n "$LEAF_PID" ] && kill -0 "$LEAF_PID" 2>/dev/null; then
    kill -TERM "$LEAF_PID"
    # A leaf that does not stop in 30 s must not hang `make test`.
    for _ in $(seq 300); do kill -0 "$LEAF_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$LEAF_PID" 2>/dev/null || true
    wait "$LEAF_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap finish EXIT

# HTTP with Python's standard library (curl is not on every Debian): `http METHOD PATH
# [BODY] [TOKEN]` prints the JSON answer's field FIELD, or fails on any status but 2xx.
http() {
  python3 - "$@" <<'PY'
import json, sys, urllib.request
base, method, path, body, token, field = sys.argv[1:7]
request = urllib.request.Request(base + path, method=method, data=body.encode() if body else None)
request.add_header("content-type", "application/json")
if token:
    request.add_header("authorization", "Bearer " + token)
with urllib.request.urlopen(request, timeout=10) as answer:
    document = json.load(answer)
print(document[field] if field else "")
PY
}

PIN=$(python3 -c 'import secrets; print(secrets.randbelow(10**8) + 10**8)')
echo "$PIN" | "$LEAF_BIN" --data-dir "$WORK/data" td add contract-td >/dev/null

# Port 0: leaf says where it listens in its "ready" line. The per-token page rate is a read
# budget, tested on its own (tests/hostile.rs); here it would only turn schemathesis's quick
# sequence of reads into 503s.
"$LEAF_BIN" --data-dir "$WORK/data" --addr 127.0.0.1:0 --nats-server "$NATS" --log-format json \
  --log-pages-per-token-per-second 100000 >"$WORK/leaf.log" 2>&1 &
LEAF_PID=$!
BASE=
for _ in $(seq 600); do
  BASE=$(python3 - "$WORK/leaf.log" <<'PY'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "leaf is ready":
        print("http://" + fields["addr"])
        break
PY
)
  [ -n "$BASE" ] && break
  kill -0 "$LEAF_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$BASE" ] || { echo "api-contract: leaf did not become ready" >&2; exit 1; }

TD=$(http "$BASE" POST /api/v1/auth/login "{\"name\":\"contract-td\",\"pin\":\"$PIN\"}" "" token)
TOURNAMENT=$(http "$BASE" POST /api/v1/tournaments '{"name":"Contract"}' "$TD" id)
http "$BASE" POST "/api/v1/tournaments/$TOURNAMENT/events" '{"type":"level","data":{"level":1}}' "$TD" "" >/dev/null
VIEWER=$(http "$BASE" POST "/api/v1/tournaments/$TOURNAMENT/viewer-links" '{}' "$TD" token)
# Both tokens work before they are used: schemathesis only warns about a token that gets
# nothing but 401s, so a broken one would make a run that tests nothing and passes.
http "$BASE" GET "/api/v1/tournaments/$TOURNAMENT" "" "$VIEWER" id >/dev/null
http "$BASE" GET /api/v1/tournaments "" "$TD" "" >/dev/null

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
  # From the temp dir, with no example database: schemathesis keeps its cache in the current
  # directory, and each run starts from its seed alone.
  (cd "$WORK" && "$ST" ${config:+--config-file "$config"} run "$BASE/api/v1/openapi.json" \
    --checks all --seed "$SEED" "${BUDGET[@]}" --workers 1 \
    --generation-database none --no-color \
    -H "Authorization: Bearer $token")
  echo "api-contract: as $who: passed in $((SECONDS - started)) s"
}

run "a TD" "" "$TD"
run "a viewer of one tournament" "$WORK/viewer.toml" "$VIEWER"
