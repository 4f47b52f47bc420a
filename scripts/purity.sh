#!/usr/bin/env bash
# Layering rules that make lint fails on.
#
# The pure core (the events envelope and types, the saga state machine, the
# participant service port) is tested without a broker and replays any log,
# so it may link only what is listed here: the standard library, minus its
# storage, logging and network clients, and google/uuid. Anything else,
# direct or indirect, fails lint: a new dependency has to be added to this
# list on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

core=(./events ./orchestrator/saga ./participants/service)

# Non-standard packages the core may link: itself and uuid.
allowed_modules='^(github\.com/sagaflow/saga/(events|orchestrator/saga|participants/service)|github\.com/google/uuid)$'

# Standard packages the core must not link although they are standard:
# storage, logging and the network clients.
denied_std='^(database/sql|log|log/slog|log/syslog|net/http|net/http/.*|net/rpc|net/smtp|os/exec|plugin)$'

go_bin=${GO:-go}
status=0
others=$("$go_bin" list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "${core[@]}" | grep -Ev "$allowed_modules" || true)
if [ -n "$others" ]; then
	echo "purity: the pure core links packages outside its allowlist (scripts/purity.sh):"
	echo "$others" | sed 's/^/  /'
	status=1
fi
std=$("$go_bin" list -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' "${core[@]}" | grep -E "$denied_std" || true)
if [ -n "$std" ]; then
	echo "purity: the pure core links standard packages it must not (storage, logging, network clients):"
	echo "$std" | sed 's/^/  /'
	status=1
fi

# The demo data seeds the logs and the tests: outside tests, only the parts
# that wire the system together and seed it may import it (the binary, the
# system it runs, the benchmark driving it). The client and the API are
# given a catalogue (client.WithCatalog).
demo_importers='^github\.com/sagaflow/saga/(cmd/saga|system|bench)$'
bad=$("$go_bin" list -f '{{.ImportPath}}{{range .Imports}}{{if eq . "github.com/sagaflow/saga/demo"}} demo{{end}}{{end}}' ./... |
	awk '$2 == "demo" {print $1}' | grep -Ev "$demo_importers" || true)
if [ -n "$bad" ]; then
	echo "purity: product packages import the demo data (scripts/purity.sh):"
	echo "$bad" | sed 's/^/  /'
	status=1
fi
exit $status
