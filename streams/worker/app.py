"""The Faust app and the per-process objects its agents and views share.

Faust is configured only from :class:`streams.settings.Settings`: the app gets an
empty Faust environment (``env={}``) so stray ``BROKER_URL`` / ``WEB_PORT`` /
``APP_DATADIR`` variables cannot silently override callfocus' own settings.
"""

from __future__ import annotations

import logging
import ssl

import faust
from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

from streams.engine.nudges import load_rules
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker import log_rate
from streams.worker.broker_contact import BrokerContact
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import LiveCallCollector, PipelineMetrics
from streams.worker.faust_codecs import register_faust_codecs
from streams.worker.fetch import BatchingConsumer, CallfocusConsumer


def faust_broker_credentials(settings: Settings) -> faust.auth.Credentials | None:
    protocol = settings.kafka_security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner.

    The spinner turns every log record into a spin, so Faust sets the root logger to
    DEBUG whatever ``--loglevel`` says: every aiokafka ``log.debug`` per produced record
    was then formatted and filtered (6 % of the worker's CPU under load, py-spy).
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        # a broker outage: aiokafka's same errors, hundreds a second (streams/worker/log_rate.py)
        log_rate.install(settings.log_repeat_interval_seconds)


FAUST_PAGES = "faust.web.apps."


def without_faust_pages(app: faust.App) -> None:
    """Drop every page Faust ships from what its web server will mount.

    The settings in :func:`create_app` turn off the pages that have one, but Faust
    mounts its index (``{"status": "OK"}`` at ``/``) whenever its statistics pages are
    off, with no setting of its own. The blueprints still to mount are Faust internals
    (``BlueprintManager._enabled``, a list of ``(prefix, "module:blueprint")``);
    tests/unit/test_web_routes.py fails if that changes.
    """
    manager = app.web.blueprints
    manager._enabled = [
        (prefix, bp)
        for prefix, bp in manager._enabled
        if not (isinstance(bp, str) and bp.startswith(FAUST_PAGES))
    ]


# Faust's count of acknowledged events that forces a commit, made too large to matter
COMMIT_BY_TIME = 10**9


def create_app(settings: Settings) -> faust.App:
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",") if host.strip()]
    app = faust.App(
        settings.app_id,
        env={},
        broker=brokers,
        broker_credentials=faust_broker_credentials(settings),
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
        Worker=Worker,
        autodiscover=["streams.worker.pipeline", "streams.worker.web", "streams.console.autodiscovered"],
        origin="streams",
    )
    without_faust_pages(app)
    # the consumer class Faust's transport builds (streams/worker/fetch.py)
    if settings.input_batches:
        app.transport.Consumer = BatchingConsumer.for_topics(settings.topic("call-events"))  # type: ignore[misc]
    else:
        app.transport.Consumer = CallfocusConsumer  # type: ignore[misc]
    return app


settings = Settings()
app = create_app(settings)
codec = AvroCodec()
register_faust_codecs(codec)
registry = CollectorRegistry(auto_describe=True)
# memory, CPU and Python's collections: with automatic collections off by default
# (streams/worker/gc_policy.py), what the full ones free and the RSS are the things to watch
ProcessCollector(registry=registry)
GCCollector(registry=registry)
pipeline_metrics = PipelineMetrics(registry, settings.label_limits())
broker_contact = BrokerContact(settings.ready_broker_timeout_seconds)
engine_config = settings.engine_config()
live_calls = LiveCalls(engine_config)
live_call_collector = LiveCallCollector(live_calls, settings.max_exported_calls, settings.per_call_series)
registry.register(live_call_collector)
processor = CallProcessor(
    codec,
    live_calls,
    pipeline_metrics,
    nudge_rules=load_rules(settings.nudge_rules_file) if settings.nudges_enabled else (),
    implicit_start=settings.implicit_start,
)
