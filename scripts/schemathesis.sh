#!/usr/bin/env bash
# Contract test of the HTTP API: run `saga up` on free ports in a fresh data
# directory, then let schemathesis exercise every operation of the OpenAPI
# document with a back-office token. Needs `schemathesis` on PATH (or
# SCHEMATHESIS=/path/to/it); extra arguments go to `schemathesis run`.
set -euo pipefail
cd "$(dirname "$0")/.."

st=${SCHEMATHESIS:-schemathesis}
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kafka_port=$(free_port)
http_port=$(free_port)
go build -o "$dir/saga" ./cmd/saga
"$dir/saga" up --data-dir "$dir/data" --listen "127.0.0.1:$kafka_port" --http "127.0.0.1:$http_port" \
	--rate-limit -1 --signup-rate -1 --log-level warn >"$dir/up.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
base="http://127.0.0.1:$http_port"
for _ in $(seq 1 120); do
	curl -fsS "$base/v1/health" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/up.log"; exit 1; }
	sleep 0.5
done
token=$("$dir/saga" token issue --data-dir "$dir/data" --sub schemathesis --role backoffice)
"$st" run "$base/v1/openapi.json" --url "$base" -H "Authorization: Bearer $token" \
	--checks all --exclude-checks ignored_auth,positive_data_acceptance "$@"
