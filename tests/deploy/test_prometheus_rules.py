"""deploy/prometheus: rules, their promtool tests, the Alertmanager example and the runbook.

Runs the real binaries (promtool from Debian's ``prometheus`` package, amtool from
``prometheus-alertmanager``); a missing binary is a failure, not a skip: ``make test``
installs them with ``deploy/local/ensure-deps.sh prometheus alertmanager``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
ALERT_RULES = RULES_DIR / "callfocus-alerts.yml"
RECORDING_RULES = RULES_DIR / "callfocus-recording.yml"
RULE_FILES = (RECORDING_RULES, ALERT_RULES)
TEST_FILES = tuple(sorted((PROMETHEUS_DIR / "tests").glob("*.yml")))
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_BASE_URL = "https://github.com/callfocus/callfocus/blob/main/docs/runbook.md#"

# the names the Grafana dashboards use: renaming one breaks a panel
DASHBOARD_RECORDING_RULES = (
    "team:callfocus_call_customer_focus_score:avg",
    "team:callfocus_call_agent_talk_ratio_180s:avg",
    "team:callfocus_calls_active:sum",
    "team_type:callfocus_nudges:rate5m",
    "job:callfocus_processing_latency_seconds:p99_5m",
    "job:callfocus_segments_processed:rate1m",
)
# the alerts the runbook and the dashboards promise
REQUIRED_ALERTS = (
    "CallfocusMonologue",
    "CallfocusTalkDominance",
    "CallfocusNoDiscovery",
    "CallfocusCustomerNegative",
    "CallfocusTeamScoreLow",
    "CallfocusWorkerDown",
    "CallfocusNoWorkers",
    "CallfocusConsumerLagGrowing",
    "CallfocusLatencyP99High",
    "CallfocusInvalidEvents",
    "CallfocusDeadLetterGrowth",
    "CallfocusOutputErrors",
    "CallfocusNudgeWebhookFailing",
)
# the receiver of each (audience, severity); the example config has nothing else
RECEIVER_OF = {
    ("supervisors", "warning"): "supervisors-console",
    ("supervisors", "critical"): "supervisors-console",
    ("platform", "critical"): "platform-pagerduty",
    ("platform", "warning"): "platform-ticket",
}


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, (
        f"{name} is not installed: `make test` installs it "
        "(deploy/local/ensure-deps.sh prometheus alertmanager, Debian packages prometheus and "
        "prometheus-alertmanager)"
    )
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERT_RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    anchors: set[str] = set()
    in_fence = False
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchors.add(github_anchor(match.group(1)))
    return anchors


# --- the binaries --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = run(binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_there_are_promtool_test_files() -> None:
    assert len(TEST_FILES) >= 2, f"no promtool test files in {PROMETHEUS_DIR / 'tests'}"


# Prometheus' global evaluation_interval: kube-prometheus-stack's default and a common setting
EVALUATION_INTERVALS = ("15s", "30s")


@pytest.mark.parametrize("interval", EVALUATION_INTERVALS)
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path: Path, interval: str, tmp_path: Path) -> None:
    """Every test file holds at both evaluation intervals: a copy with the other interval runs too."""
    tests = load_yaml(path)
    tests["evaluation_interval"] = interval
    tests["rule_files"] = [str((path.parent / rule_file).resolve()) for rule_file in tests["rule_files"]]
    copy = tmp_path / path.name
    copy.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    result = run(binary("promtool"), "test", "rules", str(copy))
    assert result.returncode == 0, f"evaluation_interval {interval}:\n" + result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config() -> None:
    result = run(binary("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def route(*labels: str) -> str:
    config = f"--config.file={ALERTMANAGER_CONFIG}"
    result = run(binary("amtool"), "config", "routes", "test", config, *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("audience=supervisors", "severity=warning"), "supervisors-console"),
        # an upset customer is urgent for the supervisor, but still the supervisors' console
        (("audience=supervisors", "severity=critical"), "supervisors-console"),
        (("audience=platform", "severity=critical"), "platform-pagerduty"),
        (("audience=platform", "severity=warning"), "platform-ticket"),
        # not one of ours: a platform ticket rather than nowhere (and never a page)
        (("alertname=SomethingElse", "severity=critical"), "platform-ticket"),
    ],
)
def test_amtool_routes_by_audience_and_severity(labels: tuple[str, ...], receiver: str) -> None:
    assert route(*labels) == receiver


def test_receivers_are_real_integrations_with_secrets_in_files() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == set(RECEIVER_OF.values())
    # the console: Alertmanager's webhook with the console's token read from a file; the only
    # receiver of supervisors' alerts, so a nudge and its alert are not told twice
    assert set(receivers["supervisors-console"]) == {"name", "webhook_configs"}
    [console] = receivers["supervisors-console"]["webhook_configs"]
    assert console["url"].endswith(":6066/api/alertmanager") and console["send_resolved"] is True
    authorization = console["http_config"]["authorization"]
    assert authorization["type"] == "Bearer" and authorization["credentials_file"]
    assert "credentials" not in authorization
    [pagerduty] = receivers["platform-pagerduty"]["pagerduty_configs"]
    assert pagerduty["routing_key_file"] and "routing_key" not in pagerduty
    [email] = receivers["platform-ticket"]["email_configs"]
    assert email["to"]
    others = [r for name, r in receivers.items() if name != "supervisors-console"]
    assert not any("webhook_configs" in r for r in others), "no made-up webhook receivers"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_reaches_its_audience(rule: dict[str, Any]) -> None:
    labels = rule.get("labels", {})
    key = (labels.get("audience"), labels.get("severity"))
    assert key in RECEIVER_OF, f"{rule['alert']}: audience/severity {key!r}"
    example = {"alertname": rule["alert"], "team": "sales", "call_id": "c1", "job": "callfocus", **labels}
    assert route(*(f"{key}={value}" for key, value in example.items())) == RECEIVER_OF[key]


# --- the rule files ------------------------------------------------------------------------------


def test_required_alerts_exist_once() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    missing = set(REQUIRED_ALERTS) - set(names)
    assert not missing, f"alerts missing from {ALERT_RULES.name}: {sorted(missing)}"


def test_dashboard_recording_rules_exist() -> None:
    records = {rule["record"] for group in load_yaml(RECORDING_RULES)["groups"] for rule in group["rules"]}
    missing = set(DASHBOARD_RECORDING_RULES) - records
    assert not missing, f"recording rules the dashboards use are missing: {sorted(missing)}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_for_labels_and_annotations(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule.get("for"), f"{name}: no `for`"
    labels = rule.get("labels", {})
    assert labels.get("severity") in {"warning", "critical"}, f"{name}: severity"
    assert labels.get("audience") in {"supervisors", "platform"}, f"{name}: audience"
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{name}: no {key} annotation"
    assert "{{" in annotations["description"], f"{name}: the description shows no value or label"
    assert annotations["runbook_url"] == RUNBOOK_BASE_URL + name.lower(), f"{name}: runbook_url"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_audience_matches_kind_of_alert(rule: dict[str, Any]) -> None:
    # call and team alerts go to supervisors, pipeline alerts (selecting the scrape job) to platform
    expr = rule["expr"]
    expected = "platform" if 'job="callfocus"' in expr else "supervisors"
    assert rule["labels"]["audience"] == expected, f"{rule['alert']}: {expr}"


def test_every_runbook_url_anchor_is_a_runbook_heading() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_BASE_URL), url
        anchor = url.removeprefix(RUNBOOK_BASE_URL)
        assert anchor in anchors, f"{rule['alert']}: docs/runbook.md has no heading with anchor #{anchor}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for test in load_yaml(path).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert not names - fires, f"no promtool case where these alerts fire: {sorted(names - fires)}"
    assert not names - silent, f"no promtool case where these must not fire: {sorted(names - silent)}"
    unknown = (fires | silent) - names
    assert not unknown, f"promtool cases for alerts that do not exist: {sorted(unknown)}"


def test_every_recording_rule_value_is_tested() -> None:
    tested: set[str] = set()
    for path in TEST_FILES:
        for test in load_yaml(path).get("tests", []):
            tested.update(case["expr"].strip() for case in test.get("promql_expr_test", []) or [])
    records = {rule["record"] for group in load_yaml(RECORDING_RULES)["groups"] for rule in group["rules"]}
    assert not records - tested, f"recording rules without a promql_expr_test: {sorted(records - tested)}"


def test_test_files_load_the_shipped_rule_files() -> None:
    for path in TEST_FILES:
        for rule_file in load_yaml(path)["rule_files"]:
            assert (path.parent / rule_file).resolve() in RULE_FILES, f"{path.name}: {rule_file}"


def runbook_table() -> dict[str, list[str]]:
    """The rows of the runbook's alert table: alert name -> its cells."""
    rows: dict[str, list[str]] = {}
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\|\s*\[(Callfocus\w+)\]\(#\w+\)\s*\|(.*)\|\s*$", line):
            rows[match[1]] = [cell.strip() for cell in match[2].split("|")]
    return rows


def runbook_sections() -> dict[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    parts = re.split(r"^## (Callfocus\w+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_runbook_table_matches_the_rules() -> None:
    rows = runbook_table()
    assert set(rows) == {rule["alert"] for rule in alert_rules()}
    for rule in alert_rules():
        severity, for_, audience, sent_as, *_ = rows[rule["alert"]]
        assert severity == rule["labels"]["severity"], rule["alert"]
        assert for_.split()[0] == rule["for"], rule["alert"]
        expected_audience = "supervisor" if rule["labels"]["audience"] == "supervisors" else "platform"
        assert audience == expected_audience, rule["alert"]
        key = (rule["labels"]["audience"], rule["labels"]["severity"])
        expected = {
            "supervisors-console": "console",
            "platform-pagerduty": "page",
            "platform-ticket": "ticket",
        }
        assert sent_as == expected[RECEIVER_OF[key]], rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_runbook_section_has_meaning_impact_diagnosis_mitigation(rule: dict[str, Any]) -> None:
    section = runbook_sections()[rule["alert"]]
    positions = [section.find(f"**{part}.**") for part in ("Meaning", "Impact", "Diagnosis", "Mitigation")]
    assert -1 not in positions and positions == sorted(positions), f"{rule['alert']}: {positions}"
    assert "```promql" in section, f"{rule['alert']}: no PromQL to copy"


def test_runbook_promql_parses(tmp_path: Path) -> None:
    """Every line of the runbook's promql blocks is a query Prometheus accepts (as a recording rule)."""
    queries = []
    for block in re.findall(r"```promql\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), flags=re.DOTALL):
        queries += [re.sub(r"<\w+>", "x", line) for line in block.splitlines() if line.strip()]
    assert queries
    rules = {
        "groups": [
            {
                "name": "runbook",
                "rules": [{"record": f"runbook:q{n}", "expr": q} for n, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "runbook-queries.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = run(binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
