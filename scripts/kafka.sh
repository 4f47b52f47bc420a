#!/usr/bin/env bash
# Local Apache Kafka (KRaft) for development and tests, without Docker.
#
#   scripts/kafka.sh up [--nodes N]   start a fresh cluster (default 1 node)
#   scripts/kafka.sh down             stop it and delete its state
#   scripts/kafka.sh restart          stop the nodes (SIGTERM) and start them
#                                     again on the same state: same cluster,
#                                     same topics and data, nothing formatted
#   scripts/kafka.sh status           show nodes; exit 1 unless all run
#   scripts/kafka.sh signal N SIG     send SIG (KILL, STOP, CONT, TERM) to node N
#   scripts/kafka.sh start N          start node N again on its state (after
#                                     a SIGKILL) and wait until it serves
#   scripts/kafka.sh leader           print the node id of the active
#                                     controller (the KRaft quorum's leader)
#   scripts/kafka.sh libs             fetch the jars if missing; print their
#                                     directory (and nothing else) on stdout
#
# Kafka comes from Maven Central as jars (fetched once with Maven into a cache
# outside the source tree) and runs as plain `java -cp libs/* kafka.Kafka`.
#
# Environment:
#   KAFKA_CACHE      jar cache root      (default ~/.cache/sagaflow-kafka)
#   KAFKA_STATE      runtime state dir   (default /tmp/sagaflow-kafka)
#   KAFKA_PORT       first broker port   (default 9092; node i uses +i-1)
#   KAFKA_CONTROLLER_PORT first controller port (default 29092)
#   KAFKA_HEAP_OPTS  JVM heap per node   (default -Xmx384m -Xms128m)
#   KAFKA_START_TIMEOUT seconds to wait for the brokers (default 120)
#
# Admin tools run from the same jars while the cluster is up, e.g.:
#   java -Dlog4j2.configurationFile=$KAFKA_STATE/tools-log4j2.properties \
#     -cp "$KAFKA_CACHE/<version>/libs/*" org.apache.kafka.tools.TopicCommand \
#     --bootstrap-server 127.0.0.1:9092 --list
set -euo pipefail

# Pinned: newest 4.x on Maven Central when this was written. Keep it in step
# with the image tag in docker-compose.kafka.yml.
KAFKA_VERSION=4.4.0
SCALA_VERSION=2.13
# Kafka 4.x logs through slf4j 1.7 -> log4j2 (log4j-api/core come with
# kafka-server); this is the slf4j 1.x binding for that log4j2 version.
LOG4J_VERSION=2.25.5

CACHE_DIR="${KAFKA_CACHE:-$HOME/.cache/sagaflow-kafka}/$KAFKA_VERSION"
LIBS="$CACHE_DIR/libs"
STATE="${KAFKA_STATE:-/tmp/sagaflow-kafka}"
HOST=127.0.0.1
BROKER_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-29092}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT=30

log() { printf 'kafka.sh: %s\n' "$*"; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

broker_port() { echo $((BROKER_PORT + $1 - 1)); }
controller_port() { echo $((CONTROLLER_PORT + $1 - 1)); }

bootstrap() { # comma-separated broker addresses of an N-node cluster
  local n=$1 i out=""
  for ((i = 1; i <= n; i++)); do out+="${out:+,}$HOST:$(broker_port "$i")"; done
  echo "$out"
}

# --- jar cache -------------------------------------------------------------

# Fetch kafka_2.13 + kafka-tools (admin CLIs) + logging backend with their
# runtime deps. Built in a temp dir and renamed into place, so an interrupted
# download never looks like a complete cache.
fetch_libs() {
  [[ -f "$LIBS/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found; needed once to fetch Kafka $KAFKA_VERSION jars"
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent first runs (e.g. parallel test jobs).
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  if [[ -f "$LIBS/.complete" ]]; then exec 9>&-; return 0; fi

  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (once)"
  cat >"$CACHE_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sagaflow</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  local tmp="$CACHE_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  if ! mvn -q -B -f "$CACHE_DIR/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$CACHE_DIR/mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$CACHE_DIR/mvn.log" >&2
    die "maven could not fetch Kafka $KAFKA_VERSION (full log: $CACHE_DIR/mvn.log)"
  fi
  touch "$tmp/.complete"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  exec 9>&-
}

# --- node processes --------------------------------------------------------

node_dir() { echo "$STATE/node-$1"; }

# Pid of node i if it is alive and really our Kafka (guards against pid reuse).
node_pid() {
  local f pid
  f="$(node_dir "$1")/kafka.pid"
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $(node_dir "$1")/" || return 1
  echo "$pid"
}

# Delete the state dir, but only if this script made it: KAFKA_STATE may be
# mistyped as a directory that holds something else.
remove_state() {
  [[ -e "$STATE" ]] || return 0
  if [[ ! -f "$STATE/.sagaflow-kafka" ]] && [[ -n "$(ls -A "$STATE" 2>/dev/null)" ]]; then
    die "refusing to delete $STATE: not a kafka.sh state dir (no .sagaflow-kafka marker)"
  fi
  rm -rf "$STATE"
}

# Node count of the cluster described by the state dir (0 if none).
state_nodes() {
  [[ -f "$STATE/nodes" ]] && cat "$STATE/nodes" || echo 0
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# KRaft cluster ids are 16 random bytes, base64url without padding. Made in
# bash to save a JVM start; Kafka itself avoids ids starting with '-'.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}

write_log4j_config() {
  # Everything to stdout (captured per node in kafka.log); quiet the chatty
  # request/state-change loggers.
  cat >"$STATE/log4j2.properties" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  # Admin tools (StorageTool here, TopicCommand etc. in tests): warnings
  # only, on stderr, so their stdout stays parseable.
  cat >"$STATE/tools-log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
EOF
}

write_server_properties() { # node-id node-count
  local id=$1 n=$2 dir voters="" i rf minisr
  dir=$(node_dir "$id")
  for ((i = 1; i <= n; i++)); do voters+="${voters:+,}$i@$HOST:$(controller_port "$i")"; done
  # Internal topics must fit the cluster: RF 1 on one node; RF 3 with
  # min ISR 2 on three (so one node can die without losing writes).
  rf=$((n < 3 ? n : 3))
  minisr=$((rf >= 3 ? 2 : 1))
  cat >"$dir/server.properties" <<EOF
# Generated by scripts/kafka.sh; node $id of $n.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://$HOST:$(broker_port "$id"),CONTROLLER://$HOST:$(controller_port "$id")
advertised.listeners=PLAINTEXT://$HOST:$(broker_port "$id")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

# Topics are created explicitly by the application, never by accident.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$minisr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$minisr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$minisr
# Fewer internal partitions: faster first group/transaction on a dev box.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Tests want consumer groups to form at once.
group.initial.rebalance.delay.ms=0

# Failover in seconds, not tens of seconds. A broker that stops
# heartbeating (SIGKILL, SIGSTOP, a lost network) is fenced after
# broker.session.timeout.ms (Kafka's default 9 s): only then do its
# partitions get new leaders and leave the in-sync replicas that acks=all
# waits for. A controller quorum without a leader elects one after the
# fetch timeout (default 2 s). README, "Running on a Kafka cluster", says
# what these cost.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2500
controller.quorum.fetch.timeout.ms=1000
controller.quorum.election.timeout.ms=500

# Small machine: few threads.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

start_node() { # node-id
  local id=$1 dir
  dir=$(node_dir "$id")
  # setsid: detach from the caller's session so Ctrl-C in make/tests does not
  # kill the broker; the inner bash records its pid and then becomes java.
  # shellcheck disable=SC2086
  nohup setsid bash -c 'echo $$ >"$1/kafka.pid"; shift; exec "$@"' _ "$dir" \
    java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STATE/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 </dev/null &
}

fail_start() { # node-id message
  local id=$1 log
  log="$(node_dir "$id")/kafka.log"
  {
    echo "kafka.sh: error: node $id: $2"
    echo "--- last lines of $log ---"
    tail -n 40 "$log" 2>/dev/null || true
  } >&2
  # Stop what started but keep the state dir so the logs can be read; the
  # next `up` or `down` removes it.
  stop_nodes >/dev/null 2>&1 || true
  exit 1
}

# Port answers, then the log says the server finished starting. In KRaft that
# line comes only after the broker registered with the quorum and was
# unfenced, i.e. it is in the cluster metadata and serves requests.
wait_ready() { # node-count
  local n=$1 deadline i
  deadline=$((SECONDS + START_TIMEOUT))
  for ((i = 1; i <= n; i++)); do
    while ! port_open "$(broker_port "$i")" ||
          ! grep -q 'Kafka Server started' "$(node_dir "$i")/kafka.log" 2>/dev/null; do
      # (no pid file yet = the launcher has not run yet)
      if [[ -f "$(node_dir "$i")/kafka.pid" ]] && ! node_pid "$i" >/dev/null; then
        fail_start "$i" "process exited during startup"
      fi
      ((SECONDS < deadline)) || fail_start "$i" "not ready after ${START_TIMEOUT}s"
      sleep 0.3
    done
  done
}

stop_nodes() {
  local n pids=() pid i deadline
  n=$(state_nodes)
  for ((i = 1; i <= n; i++)); do
    if pid=$(node_pid "$i"); then pids+=("$pid"); fi
  done
  if ((${#pids[@]})); then
    log "stopping ${#pids[@]} node(s)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop within ${STOP_TIMEOUT}s; killing"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
  fi
}

# --- commands --------------------------------------------------------------

cmd_up() {
  local n=1 running=0 i cid
  while (($#)); do
    case $1 in
      --nodes) [[ $# -ge 2 ]] || die "--nodes needs a value"; n=$2; shift 2 ;;
      --nodes=*) n=${1#*=}; shift ;;
      *) die "unknown option for up: $1" ;;
    esac
  done
  [[ "$n" =~ ^[1-9]$ ]] || die "--nodes must be 1..9, got '$n'"

  for ((i = 1; i <= $(state_nodes); i++)); do node_pid "$i" >/dev/null && running=$((running + 1)); done
  if ((running > 0)); then
    if [[ $(state_nodes) == "$n" && $running == "$n" ]]; then
      log "already running: Apache Kafka $(cat "$STATE/version" 2>/dev/null), bootstrap $(bootstrap "$n")"
      exit 0
    fi
    die "a $(state_nodes)-node cluster is already running ($running up); run 'scripts/kafka.sh down' first"
  fi
  # Leftovers of a crashed cluster: start clean.
  remove_state

  for ((i = 1; i <= n; i++)); do
    port_open "$(broker_port "$i")" && die "port $(broker_port "$i") is already in use by another process"
    port_open "$(controller_port "$i")" && die "port $(controller_port "$i") is already in use by another process"
  done

  fetch_libs
  mkdir -p "$STATE"
  touch "$STATE/.sagaflow-kafka"
  echo "$n" >"$STATE/nodes"
  echo "$KAFKA_VERSION" >"$STATE/version"
  write_log4j_config

  # Format every node's storage with the same new cluster id (all storage
  # is empty here because `down` and the cleanup above delete it). Formats
  # run in parallel: each is a JVM start.
  cid=$(new_cluster_id)
  echo "$cid" >"$STATE/cluster-id"
  local fpids=()
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$(node_dir "$i")"
    write_server_properties "$i" "$n"
    # C1-only JIT: a short-lived tool starts about twice as fast.
    java -Xmx128m -XX:TieredStopAtLevel=1 \
      -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" -cp "$LIBS/*" \
      kafka.tools.StorageTool format --cluster-id "$cid" \
      --config "$(node_dir "$i")/server.properties" >"$(node_dir "$i")/format.log" 2>&1 &
    fpids+=($!)
  done
  for i in "${!fpids[@]}"; do
    if ! wait "${fpids[$i]}"; then
      cat "$(node_dir $((i + 1)))/format.log" >&2
      remove_state
      die "formatting storage of node $((i + 1)) failed"
    fi
  done

  for ((i = 1; i <= n; i++)); do start_node "$i"; done
  wait_ready "$n"
  log "Apache Kafka $KAFKA_VERSION up ($n node(s), KRaft cluster $cid)"
  log "bootstrap: $(bootstrap "$n")"
}

cmd_down() {
  if [[ ! -d "$STATE" ]]; then log "not running"; return 0; fi
  stop_nodes
  # Fresh cluster on every `up`: nothing survives `down`.
  remove_state
  log "stopped; removed $STATE"
}

# Stop every node the way `down` does (SIGTERM, SIGKILL after STOP_TIMEOUT)
# and start them again on the same state dir: same cluster id, topics,
# records and committed offsets. Nothing is formatted or deleted. Nodes that
# were already stopped (crashed) are started too.
cmd_restart() {
  local n i dir
  n=$(state_nodes)
  ((n > 0)) || die "nothing to restart: no cluster state in $STATE (run 'scripts/kafka.sh up' first)"
  [[ -f "$LIBS/.complete" ]] || die "Kafka $KAFKA_VERSION jars missing in $LIBS (state from another version?)"
  for ((i = 1; i <= n; i++)); do
    [[ -f "$(node_dir "$i")/server.properties" && -f "$(node_dir "$i")/data/meta.properties" ]] ||
      die "node $i has no formatted storage in $(node_dir "$i"); run 'scripts/kafka.sh down' and 'up' instead"
  done
  stop_nodes
  for ((i = 1; i <= n; i++)); do
    port_open "$(broker_port "$i")" && die "port $(broker_port "$i") is still in use after stopping node $i"
    port_open "$(controller_port "$i")" && die "port $(controller_port "$i") is still in use after stopping node $i"
  done
  for ((i = 1; i <= n; i++)); do
    dir=$(node_dir "$i")
    # Keep the previous run's log; wait_ready must only see the new one.
    [[ -f "$dir/kafka.log" ]] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
    # A stale pid file would read as "exited during startup".
    rm -f "$dir/kafka.pid"
    start_node "$i"
  done
  wait_ready "$n"
  log "Apache Kafka $(cat "$STATE/version" 2>/dev/null) restarted ($n node(s), KRaft cluster $(cat "$STATE/cluster-id" 2>/dev/null)) on the same state"
  log "bootstrap: $(bootstrap "$n")"
}

cmd_status() {
  local n i pid up=0
  n=$(state_nodes)
  if ((n == 0)); then log "not running (no state in $STATE)"; exit 1; fi
  log "Apache Kafka $(cat "$STATE/version" 2>/dev/null || echo '?'), $n node(s), state $STATE"
  for ((i = 1; i <= n; i++)); do
    if pid=$(node_pid "$i"); then
      echo "node $i: running  pid $pid  broker $HOST:$(broker_port "$i")  controller $HOST:$(controller_port "$i")"
      up=$((up + 1))
    else
      echo "node $i: STOPPED  broker $HOST:$(broker_port "$i")  (log $(node_dir "$i")/kafka.log)"
    fi
  done
  echo "bootstrap: $(bootstrap "$n")"
  ((up == n))
}

# The fault commands of the cluster chaos test: one node at a time.
node_arg() { # node-id
  local n
  n=$(state_nodes)
  [[ "$1" =~ ^[1-9]$ ]] && (($1 <= n)) || die "no node '$1' in this $n-node cluster"
}

cmd_signal() { # node-id signal
  local pid
  [[ $# -eq 2 ]] || die "usage: signal N KILL|STOP|CONT|TERM"
  node_arg "$1"
  case $2 in KILL | STOP | CONT | TERM) ;; *) die "signal must be KILL, STOP, CONT or TERM, got '$2'" ;; esac
  pid=$(node_pid "$1") || die "node $1 is not running"
  kill "-$2" "$pid"
  if [[ $2 == KILL ]]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
}

cmd_start() { # node-id
  local id=${1:-} dir deadline
  node_arg "$id"
  node_pid "$id" >/dev/null && die "node $id is already running"
  [[ -f "$LIBS/.complete" ]] || die "Kafka $KAFKA_VERSION jars missing in $LIBS"
  dir=$(node_dir "$id")
  deadline=$((SECONDS + STOP_TIMEOUT))
  # The killed JVM's ports are freed by the kernel at once, but wait for them.
  while port_open "$(broker_port "$id")" || port_open "$(controller_port "$id")"; do
    ((SECONDS < deadline)) || die "ports of node $id are still in use"
    sleep 0.2
  done
  [[ -f "$dir/kafka.log" ]] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
  rm -f "$dir/kafka.pid"
  start_node "$id"
  deadline=$((SECONDS + START_TIMEOUT))
  while ! port_open "$(broker_port "$id")" || ! grep -q 'Kafka Server started' "$dir/kafka.log" 2>/dev/null; do
    if [[ -f "$dir/kafka.pid" ]] && ! node_pid "$id" >/dev/null; then fail_start "$id" "process exited during startup"; fi
    ((SECONDS < deadline)) || fail_start "$id" "not ready after ${START_TIMEOUT}s"
    sleep 0.2
  done
}

# The quorum's leader, asked of the controllers themselves: in KRaft the
# controller id a broker's metadata gives is not the active controller.
cmd_leader() {
  local n i ctl="" out
  n=$(state_nodes)
  ((n > 0)) || die "not running"
  for ((i = 1; i <= n; i++)); do
    node_pid "$i" >/dev/null && ctl+="${ctl:+,}$HOST:$(controller_port "$i")"
  done
  [[ -n "$ctl" ]] || die "no node is running"
  out=$(java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" \
    -cp "$LIBS/*" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller "$ctl" describe --status) ||
    die "could not describe the quorum"
  awk -F: '/^LeaderId/ {gsub(/[ \t]/, "", $2); print $2}' <<<"$out"
}

# For tests that run their own broker from the jars (bus/secure_test.go):
#   KAFKA_LIBS=$(scripts/kafka.sh libs) go test -run Secure ./bus/
cmd_libs() {
  # fetch_libs logs progress on stdout; stdout here is only the answer.
  fetch_libs >&2
  echo "$LIBS"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down ;;
  restart) shift; cmd_restart ;;
  status) shift; cmd_status ;;
  libs) shift; cmd_libs ;;
  signal) shift; cmd_signal "$@" ;;
  start) shift; cmd_start "$@" ;;
  leader) shift; cmd_leader ;;
  *) echo "usage: $0 up [--nodes N] | down | restart | status | libs | signal N SIG | start N | leader" >&2; exit 2 ;;
esac
