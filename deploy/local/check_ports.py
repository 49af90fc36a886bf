"""Check that the ports a local run will listen on are free, before anything starts.

    check_ports.py LABEL:VARIABLE=PORT ...

e.g. ``check_ports.py "Alertmanager:DEMO_ALERTMANAGER_PORT=9093"``. Exits 0 when every
port is free and no two are the same; otherwise prints one line naming the port, what
wanted it and the variable that moves it, and exits 1. Standard library only.
"""

from __future__ import annotations

import socket
import sys
from typing import NamedTuple


class Wanted(NamedTuple):
    label: str
    variable: str
    port: int


def parse(spec: str) -> Wanted:
    label, _, rest = spec.rpartition(":")
    variable, _, port = rest.partition("=")
    if not label or not variable or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected LABEL:VARIABLE=PORT (PORT 1-65535), got {spec!r}")
    return Wanted(label, variable, int(port))


def taken(port: int) -> bool:
    """True when something listens on the port, on any IPv4 address.

    A bind on all addresses fails when a listener holds the port on 127.0.0.1 or on all
    addresses; SO_REUSEADDR, as servers set it, so a connection of a previous run in
    TIME_WAIT does not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def problem(wanted: list[Wanted]) -> str | None:
    """The first problem as one line, or None when all ports are free and distinct."""
    seen: dict[int, Wanted] = {}
    for want in wanted:
        other = seen.get(want.port)
        if other is not None:
            return (
                f"port {want.port} is wanted by both {other.label} ({other.variable}) and "
                f"{want.label} ({want.variable}): set one of them to another port"
            )
        seen[want.port] = want
    for want in wanted:
        if taken(want.port):
            return (
                f"port {want.port} ({want.label}) is already in use by another program: "
                f"stop it or set {want.variable} to a free port"
            )
    return None


def main(argv: list[str]) -> int:
    try:
        wanted = [parse(spec) for spec in argv]
    except ValueError as exc:
        print(f"check_ports: {exc}", file=sys.stderr)
        return 2
    found = problem(wanted)
    if found is not None:
        print(found, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
