#!/usr/bin/env bash
# `make demo`: a real Kafka, a callfocus worker, replayed calls, live per-call metrics.
# Ctrl-C (or DEMO_SECONDS running out) stops the worker and Kafka cleanly.
#
#   DEMO_SECONDS         stop by itself after this many seconds (default: run until Ctrl-C)
#   DEMO_SPEED           replay speed of the sample calls (default 2)
#   CALLFOCUS_HARPER_VALLEY  Harper Valley sample dir to replay too (default ../shared/data/harper-valley)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
state="$root/.demo"
port="${CALLFOCUS_WEB_PORT:-6066}"
speed="${DEMO_SPEED:-2}"
corpus="${CALLFOCUS_HARPER_VALLEY:-$root/../shared/data/harper-valley}"
mkdir -p "$state"
export PYTHON="$bin/python"
export CALLFOCUS_KAFKA_BOOTSTRAP="127.0.0.1:${CALLFOCUS_LOCAL_KAFKA_PORT:-9092}"
export CALLFOCUS_DATA_DIR="$state/worker"
export CALLFOCUS_WEB_PORT="$port"
export CALLFOCUS_TOPIC_PARTITIONS="${CALLFOCUS_TOPIC_PARTITIONS:-4}"

pids=()
started_kafka=""
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$started_kafka" ]; then deploy/local/kafka.sh stop; fi
}
trap cleanup INT TERM EXIT

if ! deploy/local/kafka.sh status >/dev/null 2>&1; then started_kafka=1; fi
deploy/local/kafka.sh start >/dev/null
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

cat <<MSG

  callfocus demo is running.
    metrics (Prometheus format):  http://127.0.0.1:$port/metrics
    health / readiness:           http://127.0.0.1:$port/healthz   http://127.0.0.1:$port/readyz
    Kafka bootstrap:              $CALLFOCUS_KAFKA_BOOTSTRAP
  Watch a call's talk ratio:  curl -s http://127.0.0.1:$port/metrics | grep callfocus_call_agent_talk_ratio
  Ctrl-C stops everything.

MSG

"$bin/callfocus" replay samples/calls.jsonl --speed "$speed" --stagger 3 &
pids+=($!)
# simulated calls with agent styles that the metrics tell apart (pitcher, monologuer ...)
"$bin/callfocus" simulate --calls 10 --concurrency 10 --minutes 4 --speed "$speed" --seed 7 --id-prefix demo-sim &
pids+=($!)
if [ -d "$corpus/transcript" ]; then
  "$bin/callfocus" replay "$corpus" --format harper-valley --limit 5 --speed "$speed" --stagger 5 &
  pids+=($!)
else
  echo "demo: no Harper Valley sample at $corpus (set CALLFOCUS_HARPER_VALLEY); replaying the shipped sample only"
fi

deadline=$(( $(date +%s) + ${DEMO_SECONDS:-31536000} ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 5
  echo "--- $(date +%T) per-call agent talk ratio (window=call) ---"
  curl -fsS "http://127.0.0.1:$port/metrics" \
    | awk -F'[{}]' '/^callfocus_call_agent_talk_ratio\{/ && /window="call"/ {
        split($2, kv, ","); id=""; for (i in kv) if (kv[i] ~ /^call_id=/) id=kv[i];
        gsub(/call_id=|"/, "", id); printf "  %-22s %s\n", id, $3 }' | sort || true
done
