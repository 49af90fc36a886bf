"""The worker factory: a :class:`Worker` and everything its agents and pages share, from settings.

Faust is configured only from :class:`streams.settings.Settings`: the app gets an
empty Faust environment (``env={}``) so stray ``BROKER_URL`` / ``WEB_PORT`` /
``APP_DATADIR`` variables cannot silently override callfocus' own settings.
"""

from __future__ import annotations

import logging

import faust
from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

from streams.coaching.cells import TABLE_NAME as SCORECARD_TABLE
from streams.console.views import install_console
from streams.engine.definitions import with_definitions
from streams.engine.nudges import load_rules
from streams.kafka_clients import faust_broker_urls, faust_credentials
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker import faust_adapter, log_rate
from streams.worker.agents import WorkerAgents
from streams.worker.batches import BatchApplier, OutputTiming, OutputTopics
from streams.worker.broker_contact import BrokerContact
from streams.worker.call_series import LiveCallCollector
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.faust_codecs import register_faust_codecs
from streams.worker.fetch import BatchingConsumer, CallfocusConsumer
from streams.worker.scorecard_cells import ScorecardCells
from streams.worker.scorecard_series import ScorecardCollector
from streams.worker.tracker_reload import TrackerReload, TrackerReloadCollector
from streams.worker.web import WorkerPages


def quiet_faust_worker(log_repeat_interval_seconds: float) -> type[faust.Worker]:
    """Faust's worker class without its terminal spinner.

    The spinner turns every log record into a spin, so Faust sets the root logger to
    DEBUG whatever ``--loglevel`` says: every aiokafka ``log.debug`` per produced record
    was then formatted and filtered (6 % of the worker's CPU under load, py-spy).
    """

    class QuietWorker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            self.spinner = None
            # a broker outage: aiokafka's same errors, hundreds a second (streams/worker/log_rate.py)
            log_rate.install(log_repeat_interval_seconds)

    return QuietWorker


# Faust's count of acknowledged events that forces a commit, made too large to matter
COMMIT_BY_TIME = 10**9


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        env={},
        broker=faust_broker_urls(settings.kafka),
        broker_credentials=faust_credentials(settings.kafka),
        # RocksDB without its write-ahead log (streams/worker/state_store.py)
        store="callfocus-rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(settings.data_dir),
        processing_guarantee=settings.processing_guarantee,
        table_standby_replicas=settings.table_standby_replicas,
        broker_session_timeout=settings.session_timeout_seconds,
        # static membership: a restarted worker takes its partitions back at once
        consumer_group_instance_id=settings.group_instance_id,
        # a fetch is one batch (streams.worker.fetch): unbounded, a backlog came as one of 30,000
        # records that held the event loop for seconds
        broker_max_poll_records=settings.fetch_max_records,
        broker_commit_interval=settings.commit_interval_seconds,
        # by time only: Faust also commits every 10,000 events, i.e. every second under a
        # backlog, and each commit writes the state of every call changed since the last
        broker_commit_every=COMMIT_BY_TIME,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_host=settings.web_host,
        web_bind=settings.web_host,  # Faust binds web_bind (all interfaces unless set)
        web_port=settings.web_port,
        web_in_thread=False,
        # Faust's own pages off: /table/ served a call's state (labels, words of recent
        # utterances) and /router/ the cluster's layout, without the console token, on the
        # port Prometheus scrapes. callfocus uses no @app.table_route, which needs /router/.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        # Faust's 16 KiB producer batches hold a few call states each: a commit writing 500
        # states waited on a broker round trip every few records (exactly-once producers
        # have one request in flight). Below the broker's 1 MiB max.message.bytes.
        producer_max_batch_size=512 * 1024,
        # the topics callfocus creates take records this large (settings.topic_max_message_bytes)
        producer_max_request_size=settings.max_record_bytes,
        Worker=quiet_faust_worker(settings.log_repeat_interval_seconds),
        autodiscover=False,  # every agent, view and timer is registered by create_worker
    )
    # Faust mounts its index page ({"status": "OK"} at /) whenever its statistics pages
    # are off, with no setting of its own
    faust_adapter.drop_faust_pages(app)
    # the consumer class Faust's transport builds (streams/worker/fetch.py)
    if settings.input_batches:
        app.transport.Consumer = BatchingConsumer.for_topics(settings.topic("call-events"))  # type: ignore[misc]
    else:
        app.transport.Consumer = CallfocusConsumer  # type: ignore[misc]
    return app


class Worker:
    """One callfocus worker: its Faust app and everything the app's agents, timers and pages share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.codec = AvroCodec()
        register_faust_codecs(self.codec)
        self.registry = CollectorRegistry(auto_describe=True)
        # memory, CPU and Python's collections: with automatic collections off by default
        # (streams/worker/gc_policy.py), what the full ones free and the RSS are the things to watch
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.metrics = PipelineMetrics(self.registry, settings.label_limits())
        self.broker_contact = BrokerContact(settings.ready_broker_timeout_seconds)
        nudge_rules = load_rules(settings.nudge_rules_file) if settings.nudges_enabled else ()
        # the definitions version every snapshot and summary carries (streams/engine/definitions.py)
        self.engine_config = with_definitions(settings.engine_config(), nudge_rules)
        # the user-defined trackers in force: ``self.trackers.current`` (a TrackerSet), replaced
        # whole when TRACKERS_FILE changes (streams/worker/tracker_reload.py)
        self.trackers = TrackerReload(settings.trackers_file, settings.trackers_reload_seconds)
        self.registry.register(TrackerReloadCollector(self.trackers))
        self.live_calls = LiveCalls(self.engine_config)
        self.live_call_collector = LiveCallCollector(
            self.live_calls, settings.max_exported_calls, settings.per_call_series
        )
        self.registry.register(self.live_call_collector)
        # personal data out of every event before it reaches state or an output (docs/privacy.md)
        self.redactor = settings.privacy.redactor()
        self.processor = CallProcessor(
            self.codec,
            self.live_calls,
            self.metrics,
            nudge_rules=nudge_rules,
            implicit_start=settings.implicit_start,
            trackers=self.trackers,
            redactor=self.redactor,
        )
        # The durable per-call state: key = call_id (the input key), value = LiveCall.to_bytes().
        # Ended calls are deleted once their summary is out.
        self.call_state = self.app.Table(
            "call-state",
            key_type=bytes,  # bytes key and value: Faust (de)serialises them "raw"
            value_type=bytes,
            partitions=settings.topic_partitions,
            help="Per-call metric engine state (changelog-backed).",
            # a state record as large as any other callfocus record (settings.max_record_bytes)
            extra_topic_configs={"max.message.bytes": str(settings.topic_max_message_bytes)},
        )
        # Call summaries added up per agent, team and day, written with the calls' ends
        # (streams/worker/scorecard_cells.py); keys and values: streams/coaching/cells.py
        self.scorecard_table = self.app.Table(
            SCORECARD_TABLE,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.topic_partitions,
            help="Scorecard cells: call summaries added up per agent, team and day (changelog-backed).",
            extra_topic_configs={"max.message.bytes": str(settings.topic_max_message_bytes)},
        )
        self.scorecards = ScorecardCells(self.live_calls.unwritten, settings.scorecards.zone())
        self.registry.register(ScorecardCollector(self.scorecards, settings.scorecard_max_exported_agents))
        self.applier = BatchApplier(
            self.processor,
            self.codec,
            self.live_calls,
            self.metrics,
            OutputTopics(
                call_events=settings.topic("call-events"),
                metrics=settings.topic("call-metrics"),
                summaries=settings.topic("call-summaries"),
                dead_letters=settings.topic("call-events.dlq"),
                nudges=settings.topic("nudges"),
            ),
            OutputTiming(
                snapshot_interval_seconds=settings.snapshot_interval_seconds,
                nudge_interval_seconds=settings.nudge_interval_seconds,
                max_record_bytes=settings.max_record_bytes,
                nudge_snippets=settings.nudge_snippets,
            ),
            redactor=self.redactor,
            dead_letter_original=settings.dead_letter_original,
            scorecards=self.scorecards,
        )
        self.agents = WorkerAgents(
            self.app,
            settings,
            self.codec,
            self.engine_config,
            self.live_calls,
            self.processor,
            self.metrics,
            self.call_state,
            self.applier,
            self.scorecard_table,
            self.scorecards,
        )
        self.committer = self.agents.commits
        if settings.trackers_file is not None:
            self.app.timer(interval=settings.trackers_reload_seconds, name="reload_trackers")(
                self.trackers.run_check
            )
        self.registry.register(self.agents.lag_collector())
        self.web = WorkerPages(
            self.app, settings, self.registry, self.broker_contact, self.live_calls, self.live_call_collector
        )
        self.console = install_console(self.app, settings, self.codec)


def create_worker(settings: Settings) -> Worker:
    """A worker built from ``settings``: nothing is built at import, so tests build as many
    workers, with as many settings, as they like in one process."""
    return Worker(settings)
