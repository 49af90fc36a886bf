"""What can be checked of the image and the compose stack without a Docker engine.

No Docker engine answers on this machine, so nothing here builds or runs a container.
Checked instead: every file the Dockerfile copies exists and is not excluded by
.dockerignore, the image's smoke check and entry point work on the wheel it installs,
the compose file's services, references, commands and mounts are consistent, and its
Prometheus config passes promtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from streams.tools.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
COMPOSE_DIR = ROOT / "deploy" / "compose"


def dockerfile_lines() -> list[str]:
    """Instructions with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text()))


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = []
    for line in dockerfile_lines():
        if line.startswith("COPY") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert sources, "the Dockerfile copies nothing from the repository"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"


def test_image_runs_as_a_numeric_non_root_user_with_a_healthcheck() -> None:
    lines = dockerfile_lines()
    user = [line.split()[1] for line in lines if line.startswith("USER")][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in lines)
    assert [line for line in lines if line.startswith("FROM")][-1].startswith("FROM ${PYTHON_IMAGE}")
    assert sum(line.startswith("FROM") for line in lines) == 2  # multi-stage
    assert 'ENTRYPOINT ["callfocus"]' in lines
    assert 'callfocus = "streams.tools.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_the_image_smoke_check_passes_on_the_installed_package() -> None:
    (check,) = [line for line in dockerfile_lines() if "python -c" in line and line.startswith("RUN")]
    program = re.search(r'python -c "([^"]+)"', check)
    assert program is not None
    subprocess.run([sys.executable, "-c", program.group(1)], check=True, cwd="/", timeout=60)


def test_compose_references_are_consistent() -> None:
    services = compose()["services"]
    assert {"kafka", "topics", "worker", "simulator", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    built = services["topics"]["build"]
    assert (COMPOSE_DIR / built["context"] / built["dockerfile"]).resolve() == DOCKERFILE
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts missing {source}"
        if service.get("image", "").startswith("callfocus:"):
            assert service["environment"]["CALLFOCUS_KAFKA_BOOTSTRAP"] == "kafka:9092"
            assert service["image"] == services["topics"]["image"]


def test_compose_commands_are_valid_callfocus_invocations() -> None:
    runner = CliRunner()
    for name in ("topics", "worker", "simulator"):
        command, *args = compose()["services"][name]["command"]
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0, f"{name}: callfocus {command} is not a command"
        for option in (a for a in args if a.startswith("--")):
            assert option in result.output, f"{name}: callfocus {command} has no option {option}"


def test_compose_mounts_the_single_copies_of_rules_alertmanager_and_dashboards() -> None:
    services = compose()["services"]
    mounts = {v.split(":")[0]: v.split(":")[1] for s in services.values() for v in s.get("volumes", [])}
    assert mounts["../prometheus/rules"] == "/etc/prometheus/rules"
    assert mounts["../prometheus/alertmanager.yml"] == "/etc/alertmanager/alertmanager.yml"
    assert mounts["../grafana/dashboards"] == "/var/lib/grafana/dashboards"
    provisioning = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards.yml").read_text())
    paths = [p["options"]["path"] for p in provisioning["providers"]]
    assert "/var/lib/grafana/dashboards" in paths


def test_compose_prometheus_config_is_valid_and_scrapes_the_worker() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed: make test installs it (deploy/local/ensure-deps.sh prometheus)"
    config = COMPOSE_DIR / "prometheus.yml"
    subprocess.run([promtool, "check", "config", str(config)], check=True, capture_output=True, timeout=60)
    parsed = yaml.safe_load(config.read_text())
    (job,) = parsed["scrape_configs"]
    assert job["job_name"] == "callfocus"  # the job label the alert rules select
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose()["services"] and port == "6066"


def test_compose_alertmanager_reaches_the_console_with_its_token() -> None:
    """The shipped alertmanager.yml's console URL and token file resolve in the compose stack."""
    from urllib.parse import urlsplit

    document = compose()
    services = document["services"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/alertmanager.yml").read_text())
    [receiver] = [r for r in config["receivers"] if r["name"] == "supervisors-console"]
    [webhook] = receiver["webhook_configs"]
    url = urlsplit(webhook["url"])
    worker = services["worker"]
    assert url.hostname in worker["networks"]["default"]["aliases"]
    assert f"{url.port}:{url.port}" in worker["ports"]  # the worker's web port
    token_file = webhook["http_config"]["authorization"]["credentials_file"]
    [mounted] = [c for c in services["alertmanager"]["configs"] if c["target"] == token_file]
    # the worker's token and the file Alertmanager sends are one value
    assert (
        document["configs"][mounted["source"]]["content"] == worker["environment"]["CALLFOCUS_CONSOLE_TOKEN"]
    )
