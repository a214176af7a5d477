#!/usr/bin/env bash
# schemathesis against a running `cdp serve`: it reads /openapi.json and sends what it
# generates from it to every operation, once per kind of caller (a workspace owner's API
# key, a member of each role signed in, a write key, a platform admin's token, the
# metrics token). It fails on any 5xx and on any answer the document does not describe
# (status, content type, body schema).
#
#   e2e-tests/schemathesis/run.sh target/debug/cdp path/to/schemathesis [examples]
#
# The seed is fixed so a run can be repeated; pass SEED=random to explore.
set -euo pipefail
cdp=$(realpath "$1")
st=$2
examples=${3:-20}
member_examples=${MEMBER_EXAMPLES:-5}
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

tenant=$(cd "$work" && "$cdp" tenant create "Schemathesis" --owner owner@example.com 2>/dev/null)
field() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); [v := v[k] for k in sys.argv[2:]]; print(v)" "$@"; }
api_key=$(field "$tenant" api_key)
write_key=$(field "$tenant" write_key)
post() { curl -fs -X POST "$base$1" -H 'content-type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2"; }
login=$(post /v1/auth/login "{\"email\":\"admin@example.com\",\"password\":\"$admin_password\"}")
admin_token=$(field "$login" access_token)
# A member's first sign-in: the one-time password, a chosen one, and signing in again.
member_password="a member's password, 12+ chars"
sign_in() {
  local email=$1 one_time=$2 first
  first=$(post /v1/auth/login "{\"email\":\"$email\",\"password\":\"$one_time\"}")
  post /v1/auth/password "{\"current_password\":\"$one_time\",\"new_password\":\"$member_password\"}" \
    "$(field "$first" access_token)" >/dev/null
  field "$(post /v1/auth/login "{\"email\":\"$email\",\"password\":\"$member_password\"}")" access_token
}
# A member of every role, signed in before any run (the runs of all of them take well
# under the 15 minutes an access token lasts).
declare -A member_token
member_token[owner]=$(sign_in owner@example.com "$(field "$tenant" owner one_time_password)")
for role in admin marketer analyst compliance; do
  invited=$(post /v1/members "{\"email\":\"$role.member@example.com\",\"role\":\"$role\"}" \
    "${member_token[owner]}")
  member_token[$role]=$(sign_in "$role.member@example.com" "$(field "$invited" one_time_password)")
done

# One group of operations. A run that found no failure but stopped on an error of the tool
# itself (its generator has crashed in CPython once) is tried again, once; a failure the
# API caused is never retried.
run() {
  local name=$1 token=$2 n=$3; shift 3
  local out="$work/schemathesis.out"
  for attempt in 1 2; do
    echo "--- schemathesis: $name"
    if "$st" run "$base/openapi.json" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      -H "Authorization: Bearer $token" -n "$n" --seed "$seed" --workers "${WORKERS:-2}" \
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
management=(--exclude-tag Tracking --exclude-tag Webhooks --exclude-tag Platform
  --exclude-tag Operations --exclude-tag Console --exclude-tag Sign-in --exclude-tag Benchmark)
# Each member role over the same operations first, with fewer examples and without the
# stateful phase (which follows links to real ids, and as an admin would remove the other
# members): what differs between roles is which operations answer 403, and the document
# must say so. The least privileged go first, the owner last. One worker: with two, the
# generator's own cache of strategy descriptions races and stopped two runs in five.
for role in analyst marketer compliance admin owner; do
  WORKERS=1 run "the management API, signed in as $role" "${member_token[$role]}" \
    "$member_examples" "${management[@]}" --phases examples,coverage,fuzzing || status=1
done
run "the management API, with the owner's API key" "$api_key" "$examples" "${management[@]}" || status=1
run "the tracking and webhook APIs, with a write key" "$write_key" "$examples" \
  --include-tag Tracking --include-tag Webhooks || status=1
run "the platform API, as a platform admin" "$admin_token" "$examples" --include-tag Platform || status=1
run "sign-in and operations" schemathesis-metrics "$examples" \
  --include-tag Sign-in --include-tag Operations --include-tag Console || status=1
if [ "$status" != 0 ]; then
  echo "schemathesis found problems; the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
