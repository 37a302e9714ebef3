#!/usr/bin/env bash
# Schemathesis against a live hookline: every operation of GET /openapi.json, once with the
# admin key and once with an account key. Passes only with 0 server errors (5xx) and 0
# statuses the document does not list (status_code_conformance).
#
#   .ci/schemathesis.sh [PATH_TO_HOOKLINE] [MAX_EXAMPLES] [MAX_SECONDS_PER_KEY]
#
# Needs schemathesis (.ci/requirements.txt) in .ci/.venv, curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-${CARGO_TARGET_DIR:-target}/debug/hookline}
max_examples=${2:-30}
max_seconds=${3:-90}
st=.ci/.venv/bin/schemathesis

data=$(mktemp -d)
out=$(mktemp)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$data" "$out"
}
trap cleanup EXIT

# Rate limits off, so cases reach the handlers instead of stopping at 429 (which is documented
# anyway); the Bot API and the Graph API point at a closed local port, so nothing leaves the
# machine.
HOOKLINE_RATE_LIMIT_BOT_MANAGEMENT=0 HOOKLINE_RATE_LIMIT_WEBHOOKS=0 HOOKLINE_RATE_LIMIT_MEDIA=0 \
HOOKLINE_TELEGRAM_API_URL=http://127.0.0.1:9 HOOKLINE_WHATSAPP_API_URL=http://127.0.0.1:9 \
HOOKLINE_LOG_LEVEL=error \
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" >"$out" 2>"$out.log" &
pid=$!
for _ in $(seq 1 100); do grep -q '^hookline listening on' "$out" && break; sleep 0.2; done
addr=$(sed -n 's/^hookline listening on http:\/\/\([^ ]*\).*/\1/p' "$out")
admin=$(sed -n 's/^Admin API key (shown once, store it now): //p' "$out")
[ -n "$addr" ] && [ -n "$admin" ] || { echo "hookline did not start"; cat "$out" "$out.log"; exit 1; }
base="http://$addr"

json() { curl -sS --fail-with-body -H "Authorization: Bearer $1" -H 'content-type: application/json' -d "$2" "$3"; }
account=$(json "$admin" '{"name": "schemathesis"}' "$base/v1/api/accounts" | jq -r .data.id)
account_key=$(json "$admin" '{"name": "schemathesis"}' "$base/v1/api/accounts/$account/keys" | jq -r .data.key)

for role in admin account; do
  key=$admin
  [ "$role" = account ] && key=$account_key
  printf '\n--- schemathesis with the %s key ---\n' "$role"
  log=$(mktemp)
  status=0
  # One worker: the machine's cores are shared, and hypothesis's source introspection is not
  # thread-safe on every Python (a spurious "AST constructor recursion depth" runtime error).
  "$st" run "$base/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance \
    --max-examples "$max_examples" --max-time "$max_seconds" \
    --request-timeout 20 --workers 1 --seed 1 \
    --generation-database none --no-color --output-truncate true >"$log" 2>&1 || status=$?
  # The summary: operations, phases, failures and the number of generated cases.
  sed -n '/= SUMMARY =/,$p' "$log"
  if [ "$status" -ne 0 ]; then
    sed -n '/= FAILURES =/,/= SUMMARY =/p; /= ERRORS =/,/= SUMMARY =/p' "$log" | head -n 150
    rm -f "$log"
    echo "schemathesis found failures with the $role key"
    exit 1
  fi
  rm -f "$log"
done
echo "schemathesis: 0 server errors, 0 undocumented statuses, with the admin and an account key"
