#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker+controller) without Docker.
#
#   kafka.sh fetch            resolve the pinned Kafka jars from Maven Central into the cache
#   kafka.sh start [--clean] [--sasl-ssl]
#                             fetch, format storage (once), start on 127.0.0.1, wait for metadata
#   kafka.sh stop             stop the broker started from this data dir
#   kafka.sh status           say whether it runs and where
#
# Security: PLAINTEXT by default. With --sasl-ssl (or CALLFOCUS_LOCAL_KAFKA_SECURITY=sasl_ssl) the
# client listener is SASL_SSL with SCRAM-SHA-512: the users are created when the storage is
# formatted (kafka-storage format --add-scram), and a CA and a broker certificate (for 127.0.0.1
# and localhost) are made with openssl and keytool in $DATA/tls. Clients then set
#   CALLFOCUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL  CALLFOCUS_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
#   CALLFOCUS_KAFKA_SASL_USERNAME / _PASSWORD (the user below)
#   CALLFOCUS_KAFKA_SSL_CAFILE=$DATA/tls/ca.pem  (printed by start; `kafka.sh env` prints all five)
# The controller listener stays PLAINTEXT on 127.0.0.1. A data dir keeps the security it was
# formatted with: switching needs `start --clean`.
#
# Environment (all optional):
#   CALLFOCUS_LOCAL_KAFKA_SECURITY         plaintext | sasl_ssl      (plaintext)
#   CALLFOCUS_LOCAL_KAFKA_SASL_USERNAME    the clients' SCRAM user   (callfocus)
#   CALLFOCUS_LOCAL_KAFKA_SASL_PASSWORD    its password              (callfocus-secret)
#   CALLFOCUS_LOCAL_KAFKA_ADMIN_PASSWORD   the broker's own user "admin" (admin-secret)
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
# the security asked for; else the one the data dir was formatted with; else plaintext
security="${CALLFOCUS_LOCAL_KAFKA_SECURITY:-}"
formatted_security() { cat "$data/security" 2>/dev/null || echo plaintext; }
sasl_username="${CALLFOCUS_LOCAL_KAFKA_SASL_USERNAME:-callfocus}"
sasl_password="${CALLFOCUS_LOCAL_KAFKA_SASL_PASSWORD:-callfocus-secret}"
admin_password="${CALLFOCUS_LOCAL_KAFKA_ADMIN_PASSWORD:-admin-secret}"
mechanism=SCRAM-SHA-512
# the key and trust stores' password: they only hold the throw-away local CA and key
store_password=callfocus-local
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

make_tls() {
  # a CA, and a broker certificate it signs for 127.0.0.1 and localhost; kept across restarts
  local tls="$data/tls"
  if [ -f "$tls/.complete" ]; then return 0; fi
  need openssl "install OpenSSL (Debian: apt-get install openssl) to make the local CA"
  need keytool "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)"
  rm -rf "$tls"; mkdir -p "$tls"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
      -subj "/CN=callfocus local Kafka CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout "$tls/broker.key" -out "$tls/broker.csr"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" \
      "authorityKeyIdentifier=keyid" >"$tls/broker.ext"
    openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
      -days 825 -sha256 -extfile "$tls/broker.ext" -out "$tls/broker.pem"
    openssl pkcs12 -export -name broker -in "$tls/broker.pem" -inkey "$tls/broker.key" \
      -certfile "$tls/ca.pem" -out "$tls/broker.p12" -passout "pass:$store_password"
    # the broker is a client of itself too (transaction markers): it trusts the same CA
    keytool -importcert -noprompt -alias callfocus-local-ca -file "$tls/ca.pem" \
      -keystore "$tls/truststore.p12" -storetype PKCS12 -storepass "$store_password"
  } >"$data/logs/tls.log" 2>&1 || die "making the local CA failed: $(tail -n 3 "$data/logs/tls.log")"
  touch "$tls/.complete"
}

listener_config() {
  if [ "$security" = "sasl_ssl" ]; then
    cat <<PROPS
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=$mechanism
sasl.mechanism.inter.broker.protocol=$mechanism
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
ssl.keystore.type=PKCS12
ssl.keystore.location=$data/tls/broker.p12
ssl.keystore.password=$store_password
ssl.key.password=$store_password
ssl.truststore.type=PKCS12
ssl.truststore.location=$data/tls/truststore.p12
ssl.truststore.password=$store_password
PROPS
  else
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
  fi
}

write_config() {
  mkdir -p "$data/logs" "$data/kraft"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
$(listener_config)
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

# what clients set to reach the broker (the tests and the docs source this output)
client_env() {
  echo "CALLFOCUS_KAFKA_BOOTSTRAP=127.0.0.1:$port"
  if [ "$security" = "sasl_ssl" ]; then
    echo "CALLFOCUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    echo "CALLFOCUS_KAFKA_SASL_MECHANISM=$mechanism"
    echo "CALLFOCUS_KAFKA_SASL_USERNAME=$sasl_username"
    echo "CALLFOCUS_KAFKA_SASL_PASSWORD=$sasl_password"
    echo "CALLFOCUS_KAFKA_SSL_CAFILE=$data/tls/ca.pem"
  fi
}

start() {
  local clean=""
  for arg in "$@"; do
    case "$arg" in
      --clean) clean=--clean ;;
      --sasl-ssl) security=sasl_ssl ;;
      *) die "start: unknown option $arg (--clean, --sasl-ssl)" ;;
    esac
  done
  if [ -z "$security" ]; then
    if [ -z "$clean" ]; then security="$(formatted_security)"; else security=plaintext; fi
  fi
  case "$security" in
    plaintext|sasl_ssl) ;;
    *) die "CALLFOCUS_LOCAL_KAFKA_SECURITY=$security: expected plaintext or sasl_ssl" ;;
  esac
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
  if [ -f "$data/kraft/meta.properties" ]; then
    local formatted; formatted="$(formatted_security)"
    # SCRAM users exist only if they were added when the storage was formatted
    [ "$formatted" = "$security" ] \
      || die "$data was formatted for $formatted, not $security: start --clean to re-create it"
  fi
  mkdir -p "$data/logs"
  if [ "$security" = "sasl_ssl" ]; then make_tls; fi
  write_config
  if [ ! -f "$data/kraft/meta.properties" ]; then
    local cluster_id
    local scram=()
    if [ "$security" = "sasl_ssl" ]; then
      scram=(--add-scram "$mechanism=[name=admin,password=$admin_password]"
             --add-scram "$mechanism=[name=$sasl_username,password=$sasl_password]")
    fi
    cluster_id="$(java_run kafka.tools.StorageTool random-uuid | tail -n 1)"
    java_run kafka.tools.StorageTool format --ignore-formatted "${scram[@]}" \
      --cluster-id "$cluster_id" --config "$data/server.properties" >"$data/logs/format.log" 2>&1 \
      || die "formatting KRaft storage failed: $(tail -n 3 "$data/logs/format.log")"
    echo "$security" >"$data/security"
  fi
  # setsid: the broker leaves the caller's process group, so a Ctrl-C in `make demo`
  # reaches the demo's trap (which stops Kafka cleanly) rather than the JVM directly.
  setsid java -Xmx"$heap" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$data/logs" \
    -cp "$lib/*" kafka.Kafka "$data/server.properties" >"$data/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local client; mapfile -t client < <(client_env)
  if ! env "${client[@]}" "$python" "$here/wait_ready.py" "127.0.0.1:$port" "$ready_timeout"; then
    tail -n 20 "$data/logs/stdout.log" >&2 || true
    stop
    die "broker did not become ready; logs in $data/logs"
  fi
  echo "local-kafka: Apache Kafka $version ready on 127.0.0.1:$port (data $data)" >&2
  if [ "$security" = "sasl_ssl" ]; then
    echo "local-kafka: SASL_SSL, $mechanism user $sasl_username; CA $data/tls/ca.pem" >&2
    echo "local-kafka: clients set: $(client_env | grep -v PASSWORD | tr '\n' ' ')" >&2
  fi
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
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  env) security="${security:-$(formatted_security)}"; client_env ;;
  *) echo "usage: $0 fetch|start [--clean] [--sasl-ssl]|stop|status|env" >&2; exit 2 ;;
esac
