#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker+controller) without Docker.
#
#   kafka.sh fetch            resolve the pinned Kafka jars from Maven Central into the cache
#   kafka.sh start [--clean]  fetch, format storage (once), start on 127.0.0.1, wait for metadata
#   kafka.sh stop             stop the broker started from this data dir
#   kafka.sh status           say whether it runs and where
#
# Environment (all optional):
#   CALLFOCUS_LOCAL_KAFKA_PORT             client port               (9092)
#   CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT  KRaft controller port     (19093: not 9093, Alertmanager's)
#   CALLFOCUS_LOCAL_KAFKA_DATA             data + logs + pid dir     (deploy/local/.data)
#   CALLFOCUS_LOCAL_KAFKA_CACHE            jar cache                 (deploy/local/.cache)
#   CALLFOCUS_LOCAL_KAFKA_HEAP             JVM heap                  (768m)
#   CALLFOCUS_LOCAL_KAFKA_READY_TIMEOUT    seconds to wait for ready (90)
#   PYTHON                                 interpreter with kafka-python, for the readiness probe
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${CALLFOCUS_LOCAL_KAFKA_PORT:-9092}"
controller_port="${CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
data="${CALLFOCUS_LOCAL_KAFKA_DATA:-$here/.data}"
cache="${CALLFOCUS_LOCAL_KAFKA_CACHE:-$here/.cache}"
heap="${CALLFOCUS_LOCAL_KAFKA_HEAP:-768m}"
ready_timeout="${CALLFOCUS_LOCAL_KAFKA_READY_TIMEOUT:-90}"
python="${PYTHON:-python3}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
lib="$cache/kafka-$version/lib"
pidfile="$data/kafka.pid"

die() { echo "local-kafka: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"
}

fetch() {
  need java "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)"
  if [ -f "$lib/.complete" ]; then return 0; fi
  need mvn "install Maven (Debian: apt-get install maven) to fetch Kafka $version from Maven Central"
  echo "local-kafka: fetching Apache Kafka $version from Maven Central into $lib" >&2
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib" >&2 \
    || die "mvn could not resolve org.apache.kafka:kafka_2.13:$version (see the Maven output above)"
  touch "$lib/.complete"
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

java_run() {
  java -Xmx"$heap" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$data/logs" \
    -cp "$lib/*" "$@"
}

write_config() {
  mkdir -p "$data/logs" "$data/kraft"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/kraft
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
PROPS
}

start() {
  local clean="${1:-}"
  fetch
  if pid="$(running_pid)"; then
    echo "local-kafka: already running (pid $pid) on 127.0.0.1:$port" >&2
    echo "127.0.0.1:$port"
    return 0
  fi
  local taken
  if ! taken="$("$python" "$here/check_ports.py" "Kafka:CALLFOCUS_LOCAL_KAFKA_PORT=$port" \
      "Kafka's controller:CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT=$controller_port" 2>&1)"; then
    die "$taken"
  fi
  if [ "$clean" = "--clean" ]; then rm -rf "$data"; fi
  write_config
  if [ ! -f "$data/kraft/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java_run kafka.tools.StorageTool random-uuid | tail -n 1)"
    java_run kafka.tools.StorageTool format --ignore-formatted \
      --cluster-id "$cluster_id" --config "$data/server.properties" >"$data/logs/format.log" 2>&1 \
      || die "formatting KRaft storage failed: $(tail -n 3 "$data/logs/format.log")"
  fi
  # setsid: the broker leaves the caller's process group, so a Ctrl-C in `make demo`
  # reaches the demo's trap (which stops Kafka cleanly) rather than the JVM directly.
  setsid java -Xmx"$heap" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$data/logs" \
    -cp "$lib/*" kafka.Kafka "$data/server.properties" >"$data/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  if ! "$python" "$here/wait_ready.py" "127.0.0.1:$port" "$ready_timeout"; then
    tail -n 20 "$data/logs/stdout.log" >&2 || true
    stop
    die "broker did not become ready; logs in $data/logs"
  fi
  echo "local-kafka: Apache Kafka $version ready on 127.0.0.1:$port (data $data)" >&2
  echo "127.0.0.1:$port"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pidfile"
    echo "local-kafka: not running" >&2
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pidfile"
  echo "local-kafka: stopped (pid $pid)" >&2
}

status() {
  if pid="$(running_pid)"; then
    echo "local-kafka: running (pid $pid) on 127.0.0.1:$port, Kafka $version, data $data"
  else
    echo "local-kafka: not running"
    return 1
  fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 fetch|start [--clean]|stop|status" >&2; exit 2 ;;
esac
