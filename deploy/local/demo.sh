#!/usr/bin/env bash
# `make demo`: a real Kafka, a callfocus worker, replayed and simulated calls, live
# per-call metrics and nudges, the supervisor console, and Prometheus + Alertmanager with
# callfocus' rules (when Debian's packages are installed; the demo says what it skips).
# Ctrl-C (or DEMO_SECONDS running out) stops everything cleanly.
#
#   DEMO_SECONDS         stop by itself after this many seconds (default: run until Ctrl-C)
#   DEMO_SPEED           replay speed of the sample calls (default 2)
#   DEMO_PROMETHEUS_PORT / DEMO_ALERTMANAGER_PORT  (default 9090 / 9093)
#   CALLFOCUS_WEB_PORT (6066), CALLFOCUS_METRICS_PORT (unset: /metrics on the web port),
#   CALLFOCUS_LOCAL_KAFKA_PORT / CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT (9092 / 19093)
#   CALLFOCUS_HARPER_VALLEY  Harper Valley sample dir to replay too (default ../shared/data/harper-valley)
# Every port is checked before anything starts: a taken one stops the demo with one line
# naming it and the variable that moves it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
state="$root/.demo"
port="${CALLFOCUS_WEB_PORT:-6066}"
speed="${DEMO_SPEED:-2}"
prometheus_port="${DEMO_PROMETHEUS_PORT:-9090}"
alertmanager_port="${DEMO_ALERTMANAGER_PORT:-9093}"
corpus="${CALLFOCUS_HARPER_VALLEY:-$root/../shared/data/harper-valley}"
export PYTHON="$bin/python"
kafka_port="${CALLFOCUS_LOCAL_KAFKA_PORT:-9092}"
kafka_controller_port="${CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
metrics_port="${CALLFOCUS_METRICS_PORT:-$port}"  # where Prometheus scrapes
export CALLFOCUS_KAFKA_BOOTSTRAP="127.0.0.1:$kafka_port"
export CALLFOCUS_DATA_DIR="$state/worker"
export CALLFOCUS_WEB_PORT="$port"
export CALLFOCUS_TOPIC_PARTITIONS="${CALLFOCUS_TOPIC_PARTITIONS:-4}"
# the example trackers (escalation request, cancellation ...), reloaded if you edit the file
export CALLFOCUS_TRACKERS_FILE="${CALLFOCUS_TRACKERS_FILE:-$root/deploy/trackers/examples.toml}"

started_kafka=""
if ! deploy/local/kafka.sh status >/dev/null 2>&1; then started_kafka=1; fi
ports=("the worker's web server:CALLFOCUS_WEB_PORT=$port")
if [ -n "${CALLFOCUS_METRICS_PORT:-}" ]; then ports+=("the worker's /metrics:CALLFOCUS_METRICS_PORT=$metrics_port"); fi
if [ -n "$started_kafka" ]; then  # a Kafka already running holds its own ports
  ports+=("Kafka:CALLFOCUS_LOCAL_KAFKA_PORT=$kafka_port")
  ports+=("Kafka's controller:CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT=$kafka_controller_port")
fi
if command -v prometheus >/dev/null 2>&1; then ports+=("Prometheus:DEMO_PROMETHEUS_PORT=$prometheus_port"); fi
if command -v prometheus-alertmanager >/dev/null 2>&1; then
  ports+=("Alertmanager:DEMO_ALERTMANAGER_PORT=$alertmanager_port")
fi
if ! taken="$("$bin/python" deploy/local/check_ports.py "${ports[@]}" 2>&1)"; then
  echo "demo: $taken" >&2
  exit 1
fi
mkdir -p "$state"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$started_kafka" ]; then deploy/local/kafka.sh stop; fi
}
trap cleanup INT TERM EXIT

CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT="$kafka_controller_port" deploy/local/kafka.sh start >/dev/null
"$bin/callfocus" topics

"$bin/callfocus" worker >"$state/worker.log" 2>&1 &
pids+=($!)
echo "demo: worker starting (log: $state/worker.log)"
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { tail -n 30 "$state/worker.log"; echo "demo: worker exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "demo: worker not ready after 60 s" >&2; exit 1; }

prometheus_line="  Prometheus: skipped (not installed: deploy/local/ensure-deps.sh prometheus)"
alertmanager_line="  Alertmanager: skipped (not installed: deploy/local/ensure-deps.sh alertmanager)"
alerting=""
if command -v prometheus-alertmanager >/dev/null 2>&1; then
  # the shipped config, its console receiver pointed at this worker; the token file holds the
  # console token (any value when the console is open, as here unless CALLFOCUS_CONSOLE_TOKEN is set)
  (umask 077; printf '%s' "${CALLFOCUS_CONSOLE_TOKEN:-console-open}" >"$state/console-token")
  "$bin/python" deploy/local/alertmanager_config.py "http://127.0.0.1:$port" "$state/console-token" \
    "$state/alertmanager.yml"
  prometheus-alertmanager --config.file="$state/alertmanager.yml" \
    --storage.path="$state/alertmanager" --web.listen-address="127.0.0.1:$alertmanager_port" \
    --cluster.listen-address= >"$state/alertmanager.log" 2>&1 &
  pids+=($!)
  alerting="alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$alertmanager_port']}]}]}"
  alertmanager_line="  Alertmanager (call alerts -> the console's feed, pipeline -> platform): http://127.0.0.1:$alertmanager_port"
fi
if command -v prometheus >/dev/null 2>&1; then
  cat >"$state/prometheus.yml" <<YML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ['$root/deploy/prometheus/rules/*.yml']
$alerting
scrape_configs:
  - job_name: callfocus
    static_configs: [{targets: ['127.0.0.1:$metrics_port']}]
YML
  prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/prometheus" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$state/prometheus.log" 2>&1 &
  pids+=($!)
  # its alerts page: /alerts, or /classic/alerts with Debian's package (no /alerts there)
  prometheus_url="$("$bin/python" deploy/local/prometheus_page.py "http://127.0.0.1:$prometheus_port")"
  prometheus_line="  Prometheus with callfocus' rules: $prometheus_url"
fi

cat <<MSG

  callfocus demo is running.
    supervisor console:           http://127.0.0.1:$port/console
    an agent's page (agent-cy):   http://127.0.0.1:$port/console#agent=agent-cy
    today's scorecards (HTML):    $state/scorecards.html (callfocus report, every minute once calls end)
    the worker's scorecard table: http://127.0.0.1:$port/api/report?source=table&format=html
    metrics (Prometheus format):  http://127.0.0.1:$metrics_port/metrics
    health / readiness:           http://127.0.0.1:$port/healthz   http://127.0.0.1:$port/readyz
    Kafka bootstrap:              $CALLFOCUS_KAFKA_BOOTSTRAP
$prometheus_line
$alertmanager_line
  Watch a call's talk ratio:  curl -s http://127.0.0.1:$metrics_port/metrics | grep callfocus_call_agent_talk_ratio
  Nudges (pitcher, monologuer and interrupter agents raise them in the first two minutes;
  call demo-silent raises a tracker nudge, "asked for a manager", and a dead-air nudge):
    curl -s http://127.0.0.1:$metrics_port/metrics | grep '^callfocus_nudges_total' | grep -v ' 0.0'
  Per-agent scorecard counters (the committed totals of the scorecard table):
    curl -s http://127.0.0.1:$metrics_port/metrics | grep '^callfocus_agent_calls_total'
  Tracker hits (trackers: $CALLFOCUS_TRACKERS_FILE, edit it and the worker reloads it):
    curl -s http://127.0.0.1:$metrics_port/metrics | grep '^callfocus_tracker_hits_total'
  Ctrl-C stops everything.

MSG

"$bin/callfocus" replay samples/calls.jsonl --speed "$speed" --stagger 3 &
pids+=($!)
"$bin/callfocus" replay samples/signals.jsonl --speed "$speed" &
pids+=($!)
# simulated calls with agent styles that the metrics tell apart (pitcher, monologuer ...)
# seed 7: every style's nudges (monologue, talk dominance, pitching early, self focus,
# interrupting, customer negative) within the first two minutes at speed 2
"$bin/callfocus" simulate --calls 10 --concurrency 10 --minutes 6 --speed "$speed" --seed 7 --id-prefix demo-sim &
pids+=($!)
if [ -d "$corpus/transcript" ]; then
  "$bin/callfocus" replay "$corpus" --format harper-valley --limit 5 --speed "$speed" --stagger 5 &
  pids+=($!)
else
  echo "demo: no Harper Valley sample at $corpus (set CALLFOCUS_HARPER_VALLEY); replaying the shipped sample only"
fi

# today's scorecards, per agent and team, from the summaries of the calls that ended: the
# same cards the console's agent page and Grafana show, as a supervisor gets them by mail
scorecards() {
  "$bin/callfocus" report --since 1d --period day --format html --output "$state/scorecards.html" 2>/dev/null || return 0
  echo "--- $(date +%T) today's scorecards (callfocus report; the page: $state/scorecards.html) ---"
  "$bin/callfocus" report --since 1d --period day --format csv 2>/dev/null \
    | awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
        function shown(value, format) { return value == "" ? "-" : sprintf(format, value) }
        {printf "  %-24s %-28s %3d calls  mean score %5s  talk ratio %4s\n",
          $col["team"], ($col["agent_id"] == "" ? "(team)" : $col["agent_id"]), $col["calls"],
          shown($col["mean_score"], "%.1f"), shown($col["agent_talk_ratio"], "%.2f")}' || true
}

deadline=$(( $(date +%s) + ${DEMO_SECONDS:-31536000} ))
rounds=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 5
  rounds=$((rounds + 1))
  if [ $((rounds % 12)) -eq 0 ]; then scorecards; fi
  echo "--- $(date +%T) nudges so far ---"
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
    | awk '/^callfocus_nudges_total\{/ && $NF > 0 {print "  " $0}' || true
  echo "--- $(date +%T) per-call agent talk ratio (window=call) ---"
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
    | awk -F'[{}]' '/^callfocus_call_agent_talk_ratio\{/ && /window="call"/ {
        split($2, kv, ","); id=""; for (i in kv) if (kv[i] ~ /^call_id=/) id=kv[i];
        gsub(/call_id=|"/, "", id); printf "  %-22s %s\n", id, $3 }' | sort || true
done
