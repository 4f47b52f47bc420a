#!/usr/bin/env bash
# Every figure of BENCHMARKS.md, measured on this machine (`make bench`):
# the Go benchmarks of the pure code, then `saga bench` (sagas/s, latency,
# CPU and memory beside the raw limit of the same broker, and the replay),
# recovery and memory, first on the embedded broker and then on an Apache
# Kafka that this script starts from Maven Central (scripts/kafka.sh, on a
# port and state dir of its own) when java and mvn are there.
#
# Knobs: BENCH_OUT (reports and charts, default bench-results), BENCH_SAGAS
# (default 10000), BENCH_RATE (the fixed-rate run, default 500),
# BENCH_RECOVERY_EVENTS (default 1000000), BENCH_RUNNING (sagas running at
# once for recovery, default 10000), BENCH_MEMORY_RUNNING (default 100000),
# BENCH_BROKERS=embedded|kafka|both (default both), BENCH_CURVE_RATES (the
# latency curve's offered rates, default 20,50,100,200,500,1000,max),
# BENCH_CURVE_SECONDS (seconds a rate, default 10), BENCH_ONLY=curve (only
# the latency curve on each broker: `make bench-curve`).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${BENCH_OUT:-bench-results}
sagas=${BENCH_SAGAS:-10000}
rate=${BENCH_RATE:-500}
recovery_events=${BENCH_RECOVERY_EVENTS:-1000000}
running=${BENCH_RUNNING:-10000}
memory_running=${BENCH_MEMORY_RUNNING:-100000}
brokers=${BENCH_BROKERS:-both}
curve_rates=${BENCH_CURVE_RATES:-20,50,100,200,500,1000,max}
curve_seconds=${BENCH_CURVE_SECONDS:-10}
only=${BENCH_ONLY:-}
mkdir -p "$out"

echo "== $(date -u +%FT%TZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if [ "$only" != curve ]; then
	echo
	echo "== Go benchmarks of the hot pure code (decode, fold, decide, encode)"
	go test -run '^$' -bench . -benchmem -benchtime 2000x ./orchestrator/saga/ ./events/ | tee "$out/go-bench.txt"
fi
go build -o bin/saga ./cmd/saga

# curve NAME [saga flags...]: latency against offered load on one broker, a
# table on stdout and a chart.
curve() {
	local name=$1
	shift
	echo
	echo "== $name: latency against offered load ($curve_rates sagas/s, ${curve_seconds}s each)"
	bin/saga bench curve "$@" --rates "$curve_rates" --seconds-per-rate "$curve_seconds" \
		--chart "$out/curve-$name.png" --report "$out/curve-$name.json"
}

# suite NAME [saga flags...]: every measurement on one broker.
suite() {
	local name=$1
	shift
	if [ "$only" = curve ]; then
		curve "$name" "$@"
		return
	fi
	echo
	echo "== $name: $sagas book-ticket sagas as fast as they go"
	# A long warm-up: a freshly started Kafka JVM gets faster for a while.
	bin/saga bench "$@" --sagas "$sagas" --warmup 3000 --chart "$out/$name-max.png" --report "$out/$name-max.json"
	echo
	echo "== $name: $sagas book-ticket sagas offered at $rate/s"
	bin/saga bench "$@" --sagas "$sagas" --rate "$rate" --raw=false --replay=false \
		--chart "$out/$name-rate$rate.png" --report "$out/$name-rate$rate.json"
	for events in 100000 "$recovery_events"; do
		echo
		echo "== $name: recovery with $events events of history and $running sagas running"
		bin/saga bench recovery "$@" --events "$events" --running "$running" --report "$out/$name-recovery-$events.json"
	done
	echo
	echo "== $name: memory with $memory_running sagas running"
	bin/saga bench memory "$@" --running "$memory_running" --report "$out/$name-memory.json"
	curve "$name" "$@"
}

if [ "$brokers" != kafka ]; then
	suite embedded
fi
if [ "$brokers" != embedded ]; then
	if command -v java >/dev/null && command -v mvn >/dev/null; then
		port=${BENCH_KAFKA_PORT:-9492}
		export KAFKA_STATE=${TMPDIR:-/tmp}/sagaflow-kafka-bench KAFKA_PORT=$port KAFKA_CONTROLLER_PORT=$((port + 20000))
		bash scripts/kafka.sh up
		trap 'bash scripts/kafka.sh down' EXIT
		suite kafka --brokers "127.0.0.1:$port"
	else
		echo "bench: java or mvn not found: no run on Apache Kafka"
	fi
fi
echo
echo "bench: reports and charts in $out/"
