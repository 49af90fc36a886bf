"""`make demo`'s ports: checked before anything starts, and no two defaults the same."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT, free_port

CHECK_PORTS = ROOT / "deploy" / "local" / "check_ports.py"


def check_ports(*specs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_PORTS), *specs], capture_output=True, text=True, timeout=30
    )


def test_a_taken_port_is_named_in_one_line_with_its_variable(held_port: int) -> None:
    done = check_ports(
        f"Prometheus:DEMO_PROMETHEUS_PORT={free_port()}", f"Alertmanager:DEMO_ALERTMANAGER_PORT={held_port}"
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"port {held_port} (Alertmanager)" in lines[0] and "set DEMO_ALERTMANAGER_PORT" in lines[0]


def test_free_ports_pass_silently() -> None:
    done = check_ports(
        f"Prometheus:DEMO_PROMETHEUS_PORT={free_port()}", f"Kafka:CALLFOCUS_LOCAL_KAFKA_PORT={free_port()}"
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_two_services_on_one_port_are_a_collision_even_while_it_is_free() -> None:
    """What the demo did: Alertmanager and the local Kafka's controller both on 9093."""
    port = free_port()
    done = check_ports(
        f"Kafka's controller:CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT={port}",
        f"Alertmanager:DEMO_ALERTMANAGER_PORT={port}",
    )
    assert done.returncode == 1
    assert "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT" in done.stderr and "DEMO_ALERTMANAGER_PORT" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_malformed_spec_is_refused() -> None:
    done = check_ports("Prometheus=9090")
    assert done.returncode == 2 and "LABEL:VARIABLE=PORT" in done.stderr


def script_defaults(name: str) -> dict[str, int]:
    """``VARIABLE -> default port`` of the ``${VARIABLE:-1234}`` expansions in a script."""
    text = (ROOT / "deploy" / "local" / name).read_text()
    return {var: int(port) for var, port in re.findall(r"\$\{(\w+_PORT):-(\d+)\}", text)}


def test_the_demos_default_ports_are_all_different() -> None:
    demo, kafka = script_defaults("demo.sh"), script_defaults("kafka.sh")
    assert {
        "CALLFOCUS_WEB_PORT",
        "DEMO_PROMETHEUS_PORT",
        "DEMO_ALERTMANAGER_PORT",
        "CALLFOCUS_LOCAL_KAFKA_PORT",
        "CALLFOCUS_LOCAL_KAFKA_CONTROLLER_PORT",
    } <= set(demo)
    # the demo checks the ports kafka.sh will use
    assert all(demo[var] == port for var, port in kafka.items() if var in demo), (demo, kafka)
    defaults = {**kafka, **demo}
    assert len(set(defaults.values())) == len(defaults), defaults
