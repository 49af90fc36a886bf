"""``callfocus``: the worker and the tools around it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.exceptions import NoArgsIsHelpError
from pydantic import ValidationError
from pydantic_settings import SettingsError

from streams.kafka_clients import KafkaUnavailableError, ProblemKind
from streams.settings import Settings, SettingsFileError, unknown_variables
from streams.tools.simulate import AgentStyle, CustomerMood

if TYPE_CHECKING:
    from streams.tools.sources import Recording

FORMATS = click.Choice(
    ["jsonl", "harper-valley", "transcribe", "contact-lens", "google-stt", "deepgram", "whisper"]
)
VENDOR_FORMATS = ("transcribe", "contact-lens", "google-stt", "deepgram", "whisper")
Command = TypeVar("Command", bound=Callable[..., Any])


def recording_options(verb: str) -> Callable[[Command], Command]:
    """PATH, --format, --transcript and --limit: shared by the commands that read recorded calls."""
    options = [
        click.argument("path", type=click.Path(exists=True, path_type=Path)),
        click.option("--format", "fmt", type=FORMATS, default="jsonl", show_default=True),
        click.option(
            "--transcript",
            type=click.Choice(["human", "asr"]),
            default="human",
            show_default=True,
            help=f"Harper Valley only: which transcript to {verb}.",
        ),
        click.option(
            "--limit",
            type=click.IntRange(min=1),
            default=None,
            help="Only the first N calls (N at least 1).",
        ),
    ]

    def decorate(command: Command) -> Command:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def vendor_options(command: Command) -> Command:
    """--call-id, --agent-channel, --customer-channel: how ASR vendor output maps to calls and roles."""
    options = [
        click.option(
            "--call-id", default=None, help="ASR formats: the call id of a single file (default: its name)."
        ),
        click.option(
            "--agent-channel",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="ASR formats: the channel or diarized speaker number of the agent (docs/asr-formats.md).",
        ),
        click.option(
            "--customer-channel",
            type=click.IntRange(min=0),
            default=1,
            show_default=True,
            help="ASR formats: the customer's; any other channel is OTHER.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def read_input(
    path: Path,
    fmt: str,
    transcript: str = "human",
    limit: int | None = None,
    roles: tuple[int, int] = (0, 1),
    call_id: str | None = None,
) -> list[Recording]:
    """The recorded calls at ``path``. Input that is not what ``fmt`` reads (a folder given
    as JSONL, a folder without the Harper Valley layout, a line that is not an event) is the
    user's mistake: one line naming the file and line, exit status 2, no traceback."""
    from streams.errors import InvalidEventError
    from streams.tools.sources import read_recordings

    if fmt == "jsonl" and path.is_dir():
        raise click.BadParameter(
            f"{path} is a folder; JSONL input is one file (a Harper Valley folder: --format harper-valley)",
            param_hint="PATH",
        )
    try:
        if fmt in VENDOR_FORMATS:
            from streams.tools.sources.asr import ChannelRoles
            from streams.tools.sources.asr.files import read_vendor

            recordings = read_vendor(path, fmt, ChannelRoles(*roles), call_id)  # type: ignore[arg-type]
            return recordings[:limit] if limit is not None else recordings
        return read_recordings(path, fmt, transcript=transcript, limit=limit)  # type: ignore[arg-type]
    except InvalidEventError as error:
        raise click.UsageError(f"{error.detail} ({error.reason})") from None
    except OSError as error:
        raise click.UsageError(str(error)) from None


def invalid_settings(error: ValidationError) -> str:
    """One line for every problem of an invalid ``Settings``, without the values (secrets)."""
    problems = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def _usage_error(ctx: click.Context, error: click.UsageError) -> NoReturn:
    """A mistake in the arguments in one line, exit status 2: click's own report is a usage
    block, a hint and the error over four lines."""
    if isinstance(error, NoArgsIsHelpError):  # a bare ``callfocus`` or ``callfocus eval``: the help
        raise error
    where = error.ctx.command_path if error.ctx is not None else ctx.command_path
    click.echo(f"callfocus: {error.format_message()} (help: {where} -h)", err=True)
    ctx.exit(error.exit_code)


class ReportsInvalidSettings(click.Group):
    """A command group that reports invalid settings, a bad settings file or a mistake in
    the arguments in one line on stderr, with exit status 2: the user's mistake, for which
    a traceback or a usage block says nothing; and Kafka that cannot be reached or refuses
    us in one line with exit status 3."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            _usage_error(ctx, error)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            _usage_error(ctx, error)
        except KafkaUnavailableError as error:
            click.echo(f"callfocus: {error.message}", err=True)
            # an unreadable CA file is a setting's value; the rest is Kafka's answer (or silence)
            ctx.exit(2 if error.kind is ProblemKind.CA_FILE else 3)
        except (SettingsFileError, SettingsError) as error:
            problem = str(error)
        except ValidationError as error:
            # Settings, or the doctor's SettingsAsFound, which is Settings read more leniently
            if error.title not in {Settings.__name__, *(c.__name__ for c in Settings.__subclasses__())}:
                raise
            problem = invalid_settings(error)
        click.echo(f"callfocus: invalid settings: {problem}", err=True)
        ctx.exit(2)


def version_line() -> str:
    """``callfocus --version``: the package's version and whether its engine is compiled."""
    from streams.engine.definitions import engine_version
    from streams.native import loaded_state

    return f"callfocus {engine_version()} (engine: {loaded_state()}, Python {sys.version.split()[0]})"


def _print_version(ctx: click.Context, _: click.Parameter, wanted: bool) -> None:
    if wanted and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit()


@click.group(cls=ReportsInvalidSettings, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and the engine build, and exit.",
)
def main() -> None:
    """Live customer-focus analytics for contact-center calls (settings: CALLFOCUS_* variables)."""
    for warning in unknown_variables(os.environ):
        click.echo(f"callfocus: warning: {warning}", err=True)


def no_broker_answered(settings: Settings) -> NoReturn:
    """Kafka went away during a command: one line, exit status 3."""
    click.echo(
        f"callfocus: no Kafka broker answered at {settings.kafka.bootstrap} (set CALLFOCUS_KAFKA_BOOTSTRAP)",
        err=True,
    )
    sys.exit(3)


def command_line_window(since_text: str, until_text: str, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """``--since`` and ``--until`` as aware datetimes, or a usage error (exit 2) that says
    which one is wrong and what a time is."""
    from streams.tools.times import TimeError, parse_time

    now = datetime.now(UTC)
    moments = []
    for hint, text in (("--since", since_text), ("--until", until_text)):
        try:
            moments.append(parse_time(text, now, zone))
        except TimeError as error:
            raise click.BadParameter(str(error), param_hint=hint) from None
    since, until = moments
    if until <= since:
        raise click.UsageError(
            f"--until {until.isoformat()} is not after --since {since.isoformat()}: the window is empty"
        )
    return since, until


@main.command()
def worker() -> None:
    """Run a Faust worker: call-events in, per-call metrics on /metrics."""
    import shutil

    from streams.kafka_clients import require_broker

    settings = Settings()
    # aiokafka would retry an unreachable broker, a refused login or an untrusted certificate
    # for ever, logging each try: say what is wrong, once, before Faust starts
    require_broker(settings.kafka)
    from streams.worker.app import create_worker

    app = create_worker(settings).app
    if settings.store == "rocksdb" and settings.processing_guarantee == "exactly_once":
        # RocksDB writes are not part of Kafka transactions: after a crash the local store
        # can hold state of an aborted transaction. Start from the committed changelog.
        shutil.rmtree(app.conf.tabledir, ignore_errors=True)
    level = {"warning": "warn"}.get(settings.log_level, settings.log_level)  # Faust's spelling
    sys.argv = ["callfocus", "worker", "--loglevel", level]
    app.main()


@main.command()
def topics() -> None:
    """Create callfocus' topics if missing and list them."""
    from streams.kafka_clients import require_broker
    from streams.tools.topics import ensure_topics

    settings = Settings()
    require_broker(settings.kafka)
    for status in ensure_topics(settings):
        state = "created" if status.created else "exists"
        click.echo(f"{status.name:40s} {status.partitions:3d} partitions  {state}")


@main.command()
@recording_options("send")
@vendor_options
@click.option("--speed", type=float, default=1.0, show_default=True, help="Media time per wall time.")
@click.option("--max-speed", is_flag=True, help="Send as fast as possible (overrides --speed).")
@click.option("--stagger", type=float, default=2.0, show_default=True, help="Seconds between call starts.")
@click.option("--wire-format", type=click.Choice(["avro", "json"]), default="avro", show_default=True)
@click.option("--topic", default=None, help="Target topic (default <prefix>.call-events).")
def replay(
    path: Path,
    fmt: str,
    transcript: str,
    speed: float,
    max_speed: bool,
    stagger: float,
    limit: int | None,
    wire_format: str,
    topic: str | None,
    call_id: str | None,
    agent_channel: int,
    customer_channel: int,
) -> None:
    """Send recorded calls to Kafka, keyed by call_id, in real time or faster (ASR vendor
    output too: --format transcribe|contact-lens|google-stt|deepgram|whisper)."""
    from streams.kafka_clients import require_broker
    from streams.tools.replay import replay as run_replay

    if speed <= 0:
        raise click.BadParameter("must be > 0", param_hint="--speed")
    settings = Settings()  # an invalid setting is reported before the input is read
    recordings = read_input(path, fmt, transcript, limit, (agent_channel, customer_channel), call_id)
    require_broker(settings.kafka)
    click.echo(
        f"replaying {len(recordings)} calls from {path} ({'max speed' if max_speed else f'{speed:g}x'})",
        err=True,
    )
    report = run_replay(
        recordings,
        settings,
        speed=None if max_speed else speed,
        stagger_seconds=stagger,
        topic=topic,
        wire_format=wire_format,
    )
    click.echo(
        f"sent {report.events} events ({report.final_segments} final segments) of "
        f"{report.calls} calls in {report.seconds:.1f} s"
    )


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(VENDOR_FORMATS), required=True, help="The vendor's format."
)
@click.option("--input-topic", default=None, help="Topic of vendor JSON (default <prefix>.asr.<format>).")
@click.option(
    "--call-id-header", default=None, help="Take the call id from this record header (default: the key)."
)
@click.option("--agent-channel", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--customer-channel", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--wire-format", type=click.Choice(["avro", "json"]), default="avro", show_default=True)
def bridge(
    fmt: str,
    input_topic: str | None,
    call_id_header: str | None,
    agent_channel: int,
    customer_channel: int,
    wire_format: str,
) -> None:
    """Turn a topic of ASR vendor JSON into call-events, exactly once (docs/asr-formats.md)."""
    import logging

    from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    from streams.kafka_clients import require_broker
    from streams.tools.bridge import bridge_config, run, stop_on_signals
    from streams.tools.sources.asr import ChannelRoles

    settings = Settings()
    require_broker(settings.kafka)  # one line within seconds, not kafka-python's 30 s wait
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))  # chatty at info
    config = bridge_config(
        settings,
        fmt,  # type: ignore[arg-type]
        input_topic,
        ChannelRoles(agent_channel, customer_channel),
        call_id_header,
        wire_format,
    )
    if not settings.implicit_start and fmt != "contact-lens":
        click.echo(
            f"callfocus: warning: {fmt} streams carry no call start; the worker needs "
            "CALLFOCUS_IMPLICIT_START=true to take their segments",
            err=True,
        )
    click.echo(f"bridging {config.input_topic} ({fmt}) to {config.output_topic}", err=True)
    try:
        report = run(settings, config, stop_on_signals())
    except (KafkaConnectionError, KafkaTimeoutError):
        no_broker_answered(settings)
    except KafkaError as error:  # the open transaction is aborted: a restart resumes from the last commit
        click.echo(f"callfocus: the bridge stopped: {error!r}", err=True)
        sys.exit(1)
    click.echo(
        f"bridged {report.records} records: {report.events} events, {report.dead_letters} dead letters "
        f"in {report.transactions} transactions"
    )


@main.command()
@recording_options("score")
@vendor_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document with every metric of every call.")
def score(
    path: Path,
    fmt: str,
    transcript: str,
    limit: int | None,
    call_id: str | None,
    agent_channel: int,
    customer_channel: int,
    as_json: bool,
) -> None:
    """Score recorded calls offline (no Kafka) with the engine the worker runs."""
    import json

    from streams.engine.definitions import with_definitions
    from streams.engine.nudges import load_rules
    from streams.engine.trackers import EMPTY, load_trackers
    from streams.privacy.recordings import redact_recording
    from streams.tools.scoring import score_recording, score_table, signals_table

    settings = Settings()
    rules = load_rules(settings.nudge_rules_file)
    config = with_definitions(settings.engine_config(), rules)
    trackers = load_trackers(settings.trackers_file) if settings.trackers_file is not None else EMPTY
    # redacted as the worker redacts (REDACTION_MODE), so the figures are the worker's
    redactor = settings.privacy.redactor()
    recordings = [
        redact_recording(redactor, r)[0]
        for r in read_input(path, fmt, transcript, limit, (agent_channel, customer_channel), call_id)
    ]
    scored = [score_recording(r, config, rules, trackers) for r in recordings]
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in scored], indent=2))
    else:
        click.echo(score_table(scored))
        click.echo()
        click.echo(signals_table(scored))


@main.command()
@click.option(
    "--since",
    required=True,
    help="Score calls started at or after TIME: ISO-8601 date or date-time (UTC without an "
    "offset), or an age such as 7d, 36h.",
)
@click.option("--until", default=None, help="... and before TIME (default: now).")
@click.option("--dry-run", is_flag=True, help="Read and score, count, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="The counts as one JSON document.")
def backfill(since: str, until: str | None, dry_run: bool, as_json: bool) -> None:
    """Score the calls still on call-events again with the current definitions and write
    the summaries missing under them to call-summaries, once (docs/backfill.md)."""
    import json

    from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    from streams.kafka_clients import require_broker
    from streams.tools.backfill import Window, current_definitions, report_lines
    from streams.tools.backfill_kafka import run_backfill
    from streams.tools.times import to_ms
    from streams.tools.topic_reads import TopicReadError

    start, end = command_line_window(since, until or "now")
    window = Window(to_ms(start), to_ms(end))
    settings = Settings()
    definitions = current_definitions(settings)
    require_broker(settings.kafka)
    try:
        result = run_backfill(settings, definitions, window, dry_run=dry_run)
    except TopicReadError as error:
        click.echo(f"callfocus: {error.message}", err=True)
        sys.exit(error.exit_status)
    except (KafkaConnectionError, KafkaTimeoutError):
        click.echo(
            f"callfocus: Kafka stopped answering at {settings.kafka.bootstrap}; nothing was written",
            err=True,
        )
        sys.exit(3)
    except KafkaError as error:  # the transaction is aborted: nothing of this run is visible
        click.echo(f"callfocus: the backfill stopped, nothing was written: {error!r}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo("\n".join(report_lines(result, settings.topic("call-summaries"))))


@main.command()
@recording_options("redact")
def redact(path: Path, fmt: str, transcript: str, limit: int | None) -> None:
    """Print recorded calls' events as the worker keeps them (JSONL), for a privacy review
    (REDACTION_MODE, docs/privacy.md); what was redacted, per kind, on stderr."""
    import orjson

    from streams.privacy.events import add_counts
    from streams.privacy.recordings import redact_recording
    from streams.privacy.redaction import KINDS
    from streams.wire.events import event_to_record

    settings = Settings()
    redactor = settings.privacy.redactor()
    total: dict[str, int] = {}
    events = 0
    recordings = read_input(path, fmt, transcript, limit)
    out = sys.stdout.buffer
    for recording in recordings:
        redacted, counts = redact_recording(redactor, recording)
        add_counts(total, counts)
        for timed in redacted.events:
            name, record = event_to_record(timed.event)
            out.write(orjson.dumps({"type": name, **record}) + b"\n")
            events += 1
    out.flush()
    found = ", ".join(f"{kind} {total.get(kind, 0)}" for kind in KINDS)
    click.echo(
        f"callfocus: {settings.redaction_mode}: {events} events of {len(recordings)} calls; redacted {found}",
        err=True,
    )


@main.command()
@click.option("--calls", type=int, default=10, show_default=True, help="Calls in total.")
@click.option("--concurrency", type=int, default=10, show_default=True, help="Calls live at the same time.")
@click.option(
    "--minutes", type=float, default=5.0, show_default=True, help="Length of each call (media time)."
)
@click.option(
    "--styles",
    default=",".join(s.value for s in AgentStyle),
    show_default=True,
    help="Agent styles, comma-separated, assigned round-robin.",
)
@click.option(
    "--moods",
    default=",".join(m.value for m in CustomerMood),
    show_default=True,
    help="Customer moods, comma-separated, drawn at random.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True, help="Media time per wall time.")
@click.option("--max-speed", is_flag=True, help="Send as fast as possible.")
@click.option(
    "--jsonl",
    "jsonl_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the calls to this JSONL file instead of Kafka.",
)
@click.option("--id-prefix", default="sim", show_default=True)
@click.option(
    "--hold-every",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Every Nth call puts the customer on hold once, 30-90 s, with HoldStarted/HoldEnded; 0: none.",
)
def simulate(
    calls: int,
    concurrency: int,
    minutes: float,
    styles: str,
    moods: str,
    seed: int,
    speed: float,
    max_speed: bool,
    jsonl_path: Path | None,
    id_prefix: str,
    hold_every: int,
) -> None:
    """Synthetic calls with agent styles (customer-focused, pitcher, monologuer, interrupter, silent)."""
    from streams.tools.replay import replay as run_replay
    from streams.tools.replay import write_jsonl
    from streams.tools.simulate import SimulationConfig
    from streams.tools.simulate import simulate as run_simulation

    if speed <= 0:
        raise click.BadParameter("must be > 0", param_hint="--speed")
    try:
        config = SimulationConfig(
            calls=calls,
            concurrency=max(1, concurrency),
            minutes=minutes,
            seed=seed,
            id_prefix=id_prefix,
            hold_every=hold_every,
            styles=tuple(AgentStyle(s.strip()) for s in styles.split(",") if s.strip()),
            moods=tuple(CustomerMood(m.strip()) for m in moods.split(",") if m.strip()),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    planned = list(run_simulation(config))
    recordings = [r for _, r in planned]
    if jsonl_path is not None:
        count = write_jsonl(recordings, jsonl_path)
        click.echo(f"wrote {count} events of {len(recordings)} calls to {jsonl_path}")
        return
    from streams.kafka_clients import require_broker

    settings = Settings()
    require_broker(settings.kafka)
    report = run_replay(
        recordings,
        settings,
        speed=None if max_speed else speed,
        offsets_ms=[offset for offset, _ in planned],
    )
    click.echo(
        f"sent {report.events} events ({report.final_segments} final segments) of "
        f"{report.calls} simulated calls in {report.seconds:.1f} s"
    )


@main.command()
@click.option(
    "--prometheus-url",
    default=None,
    help="Also check this Prometheus: it answers, scrapes callfocus workers, has callfocus' rules.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the broker and for Prometheus.",
)
@click.option("--json", "as_json", is_flag=True, help="The checks as one JSON document.")
@click.pass_context
def doctor(ctx: click.Context, prometheus_url: str | None, timeout: float, as_json: bool) -> None:
    """Check the broker, topics, schemas, state directory, lexicons, trackers, nudge rules and
    Prometheus, and say what to fix. Exit status 0: nothing failed; 1: a check failed; 3: the
    broker cannot be reached or refused us."""
    from streams.tools.doctor import SettingsAsFound, exit_status, render_json, render_table, run_doctor

    checks = run_doctor(SettingsAsFound(), prometheus_url, timeout)
    click.echo(render_json(checks) if as_json else render_table(checks))
    ctx.exit(exit_status(checks))


@main.group(name="eval")
def evaluate() -> None:
    """Compare the engine with labelled corpora."""


@evaluate.command(name="harper-valley")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--transcript", type=click.Choice(["human", "asr", "both"]), default="both", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--swap-roles",
    is_flag=True,
    help="Evaluate the speaker-role check instead: AGENT and CUSTOMER exchanged in half "
    "the calls (by a hash of the call id), precision and recall of the flag.",
)
def evaluate_harper_valley_command(directory: Path, transcript: str, as_json: bool, swap_roles: bool) -> None:
    """Question detection, open/closed, sentiment and score against Harper Valley labels."""
    import json

    from streams.tools.evaluation import (
        evaluate_harper_valley,
        evaluate_role_check,
        evaluation_table,
        role_check_table,
    )

    config = Settings().engine_config()
    kinds = ["human", "asr"] if transcript == "both" else [transcript]
    if swap_roles:
        try:
            checks = [evaluate_role_check(directory, kind, config) for kind in kinds]
        except OSError as error:
            raise click.UsageError(str(error)) from None
        click.echo(
            json.dumps([c.as_dict() for c in checks], indent=2) if as_json else role_check_table(checks)
        )
        return
    try:
        results = [evaluate_harper_valley(directory, kind, config) for kind in kinds]
    except OSError as error:  # not the corpus' layout, or unreadable: the user's path
        raise click.UsageError(str(error)) from None
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        click.echo(evaluation_table(results))


# -- callfocus report ------------------------------------------------------------------------
@main.command()
@click.option(
    "--since",
    "since_text",
    required=True,
    metavar="TIME",
    help="Calls that started at or after TIME: an ISO-8601 date or date-time, or an age (7d, 12h).",
)
@click.option(
    "--until",
    "until_text",
    default="now",
    show_default=True,
    metavar="TIME",
    help="...and before TIME.",
)
@click.option("--team", "teams", multiple=True, metavar="TEAM", help="Only this team (repeatable).")
@click.option("--agent", "agents", multiple=True, metavar="AGENT", help="Only this agent (repeatable).")
@click.option(
    "--period",
    type=click.Choice(["day", "week", "month"]),
    default="week",
    show_default=True,
    help="One card per agent and team per period.",
)
@click.option(
    "--timezone",
    "timezone_name",
    default="UTC",
    show_default=True,
    metavar="ZONE",
    help="IANA time zone of the days, weeks and months, and of a TIME without an offset.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "html"]),
    default=None,
    help="Required: csv, json or html.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file (default: standard output).",
)
def report(
    since_text: str,
    until_text: str,
    teams: tuple[str, ...],
    agents: tuple[str, ...],
    period: str,
    timezone_name: str,
    fmt: str | None,
    output: Path | None,
) -> None:
    """Scorecards per agent and team over a window, from the call summaries on Kafka, as CSV,
    JSON or one self-contained HTML page (docs/coaching.md)."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from streams.coaching.report import RENDERERS, ReportMeta
    from streams.kafka_clients import require_broker
    from streams.tools.report import (
        Selection,
        Tally,
        read_summaries,
        report_cards,
        select,
    )
    from streams.tools.times import TimeError, time_zone, to_ms
    from streams.tools.topic_reads import TopicReadError
    from streams.wire.codec import AvroCodec

    settings = Settings()  # an invalid setting is reported before anything else
    if fmt is None:
        raise click.UsageError("Missing option '--format': csv, json or html")
    try:
        zone = time_zone(timezone_name)
    except TimeError as error:
        raise click.BadParameter(str(error), param_hint="--timezone") from None
    since, until = command_line_window(since_text, until_text, zone)
    if output is not None and not (output.parent.is_dir() and os.access(output.parent, os.W_OK)):
        raise click.BadParameter(
            f"cannot write to {output}: no writable folder {output.parent}", param_hint="--output"
        )
    require_broker(settings.kafka)
    selection = Selection(to_ms(since), to_ms(until), frozenset(teams), frozenset(agents))
    codec = AvroCodec()
    tally = Tally()
    try:
        summaries = select(read_summaries(settings, selection.since_ms), selection, codec.decode, tally)
        cards = report_cards(summaries, period, zone, frozenset(agents))
    except TopicReadError as error:
        click.echo(f"callfocus: {error.message}", err=True)
        sys.exit(error.exit_status)
    except (KafkaConnectionError, KafkaTimeoutError):
        no_broker_answered(settings)
    counts = tally.counts()
    meta = ReportMeta(
        since=since,
        until=until,
        period=period,
        timezone=timezone_name,
        generated_at=datetime.now(UTC),
        teams=tuple(teams),
        agents=tuple(agents),
        counts=counts,
    )
    text = RENDERERS[fmt](cards, meta)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise click.BadParameter(
                f"cannot write to {output}: {error.strerror}", param_hint="--output"
            ) from None
    skipped = sum(counts.undecodable.values())
    definitions = len({key.definitions for key in cards})
    click.echo(
        f"callfocus: {len(cards)} cards of {counts.kept} calls under {definitions} definitions"
        f"{' (kept apart)' if definitions > 1 else ''}; {counts.records} records read, "
        f"{skipped} undecodable skipped" + (f"; written to {output}" if output is not None else ""),
        err=True,
    )


if __name__ == "__main__":
    main()
