# callfocus: `make demo` runs the main job, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export PYTHON := $(abspath $(PY))
HELM_VERSION := v3.22.0
HELM_DIR := .tools/helm-$(HELM_VERSION)
export HELM := $(abspath $(HELM_DIR)/helm)

.PHONY: help demo test test-unit generated lint venv helm kafka-fetch kafka-start kafka-stop topics score eval bench bench-ab bench-engine sizing chaos clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

# the per-segment modules compiled with mypyc, rebuilt when one of their sources changes
ENGINE_SOURCES := $(addprefix streams/,native.py worker/tallies.py wire/values.py wire/events.py wire/avro_reader.py wire/avro_writer.py worker/calls.py worker/outputs.py worker/batches.py engine/config.py engine/lexicon.py engine/sentiment.py engine/text.py engine/trackers.py engine/call.py engine/nudges.py privacy/redaction.py privacy/events.py)
ENGINE_BUILD := streams/.native-sources.sha256

$(ENGINE_BUILD): $(STAMP) $(ENGINE_SOURCES)
	$(PY) streams/native.py

venv: $(STAMP) $(ENGINE_BUILD) ## Create the virtualenv, install callfocus with its dev tools, compile the engine

$(HELM):
	@command -v go >/dev/null || { echo "helm: needs Go to build helm $(HELM_VERSION) (go install)" >&2; exit 1; }
	GOBIN=$(abspath $(HELM_DIR)) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

helm: $(HELM) ## Build the pinned helm with go install (cached in .tools/)

kafka-fetch: venv ## Fetch the pinned Apache Kafka jars from Maven Central (cached)
	@deploy/local/ensure-deps.sh kafka
	@deploy/local/kafka.sh fetch

kafka-start: kafka-fetch ## Start the local single-node Kafka on 127.0.0.1:9092
	@deploy/local/kafka.sh start

kafka-stop: ## Stop the local Kafka
	@deploy/local/kafka.sh stop

topics: venv ## Create callfocus' topics on CALLFOCUS_KAFKA_BOOTSTRAP
	$(VENV)/bin/callfocus topics

demo: kafka-fetch ## Run the demo: Kafka, worker, calls, nudges, console, Prometheus + Alertmanager (Ctrl-C stops all)
	@deploy/local/ensure-deps.sh prometheus alertmanager || echo "demo: Prometheus/Alertmanager not installed; the demo runs without them"
	@deploy/local/demo.sh

lint: venv ## ruff + mypy
	$(VENV)/bin/ruff check streams tests bench deploy/local
	$(VENV)/bin/ruff format --check streams tests bench deploy/local
	$(VENV)/bin/mypy

test: kafka-fetch lint helm ## Every test: unit, integration (own Kafka, Prometheus), browser, rules, chart
	@deploy/local/ensure-deps.sh prometheus alertmanager chromium
	$(PY) -m pytest -v -ra

generated: venv ## Regenerate the schemas and docs tables made from the metric catalogue
	$(PY) -m streams.tools.generated --write

test-unit: venv ## Fast unit tests only (pure: no Kafka, no external tools)
	$(PY) -m pytest -v tests/unit

HARPER_VALLEY ?= $(or $(CALLFOCUS_HARPER_VALLEY),../shared/data/harper-valley)

score: venv ## Score the shipped sample calls offline (no Kafka)
	$(VENV)/bin/callfocus score samples/calls.jsonl

eval: venv ## Evaluate the engine against the Harper Valley labels (human and ASR transcripts)
	$(VENV)/bin/callfocus eval harper-valley $(HARPER_VALLEY)

bench: kafka-fetch ## Load benchmark on the local broker: worker (20 trackers x 10 phrases loaded) vs raw consumer vs naive Faust (table, JSON)
	$(PY) bench/load_bench.py --worker-setting trackers_file=$(CURDIR)/bench/trackers-20x10.toml

sizing: kafka-fetch ## Sizing run on the local broker: one worker under 1,000-5,000 live calls, the sizing table (JSON)
	CALLFOCUS_HARPER_VALLEY=$(HARPER_VALLEY) $(PY) bench/sizing.py

chaos: kafka-fetch ## Chaos run on a private broker: 15 SIGKILLs, a broker restart, 10,000 bad records, 3,000 teams (table + JSON)
	$(PY) -m tests.chaos $(CHAOS_ARGS)

bench-ab: kafka-fetch ## Same-run before/after of the worker: make bench-ab BEFORE=DIR (a checkout with its .venv), trackers loaded in both
	$(PY) bench/ab_bench.py --before $(BEFORE) $(foreach side,before after,--$(side)-setting trackers_file=$(CURDIR)/bench/trackers-20x10.toml) $(AB_ARGS)

bench-engine: venv ## Micro-benchmark of the metric engine: updates/s and bytes per call
	$(PY) bench/engine_bench.py --calls 500 --minutes 10 --repeat 3 --trackers bench/trackers-20x10.toml

clean: ## Remove the virtualenv, caches and local Kafka data (keeps the jar cache)
	-deploy/local/kafka.sh stop
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache deploy/local/.data .demo streams/*.so streams/*/*.so $(ENGINE_BUILD)
