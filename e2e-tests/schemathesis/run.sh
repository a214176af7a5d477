#!/usr/bin/env bash
# schemathesis against a running `cdp serve`: it reads /openapi.json and sends what it
# generates from it to every operation, once per kind of caller (a workspace owner's API
# key, a write key, a platform admin's token, the metrics token). It fails on any 5xx and
# on any answer the document does not describe (status, content type, body schema).
#
#   e2e-tests/schemathesis/run.sh target/debug/cdp path/to/schemathesis [examples]
#
# The seed is fixed so a run can be repeated; pass SEED=random to explore.
set -euo pipefail
cdp=$(realpath "$1")
st=$2
examples=${3:-20}
seed=${SEED:-20261203}

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
admin_password="fuzzing every route 7 times"
export CDP_HTTP_ADDR="127.0.0.1:$port" CDP_METRICS_TOKEN=schemathesis-metrics \
  CDP_ADMIN_EMAIL=admin@example.com CDP_ADMIN_PASSWORD="$admin_password" RUST_LOG=warn
(cd "$work" && exec "$cdp" serve >"$work/server.log" 2>&1) &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
# A debug build hashes the bootstrap admin's password slowly: allow two minutes.
for _ in $(seq 1 600); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "cdp serve stopped:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fs "$base/readyz" >/dev/null

tenant=$(cd "$work" && "$cdp" tenant create "Schemathesis" 2>/dev/null)
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
api_key=$(field "$tenant" api_key)
write_key=$(field "$tenant" write_key)
login=$(curl -fs -X POST "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@example.com\",\"password\":\"$admin_password\"}")
admin_token=$(field "$login" access_token)

# One group of operations. A run that found no failure but stopped on an error of the tool
# itself (its generator has crashed in CPython once) is tried again, once; a failure the
# API caused is never retried.
run() {
  local name=$1 token=$2; shift 2
  local out="$work/schemathesis.out"
  for attempt in 1 2; do
    echo "--- schemathesis: $name"
    if "$st" run "$base/openapi.json" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      -H "Authorization: Bearer $token" -n "$examples" --seed "$seed" --workers 2 \
      --no-color --warnings off "$@" 2>&1 | tee "$out"; then
      return 0
    fi
    if grep -q "^Failures:" "$out" || ! grep -q "^Errors:" "$out" || [ "$attempt" = 2 ]; then
      return 1
    fi
    echo "--- schemathesis stopped on an error of its own, not of the API; once more"
  done
}
status=0
run "the management API, as a workspace owner" "$api_key" \
  --exclude-tag Tracking --exclude-tag Webhooks --exclude-tag Platform \
  --exclude-tag Operations --exclude-tag Sign-in --exclude-tag Benchmark || status=1
run "the tracking and webhook APIs, with a write key" "$write_key" \
  --include-tag Tracking --include-tag Webhooks || status=1
run "the platform API, as a platform admin" "$admin_token" --include-tag Platform || status=1
run "sign-in and operations" schemathesis-metrics \
  --include-tag Sign-in --include-tag Operations || status=1
if [ "$status" != 0 ]; then
  echo "schemathesis found problems; the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
