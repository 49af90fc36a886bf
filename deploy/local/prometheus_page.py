"""Print the URL of the alerts page a running Prometheus serves.

    prometheus_page.py BASE_URL [TIMEOUT_SECONDS]

Debian's prometheus package serves only the classic UI (``/classic/alerts``; ``/alerts``
is a 404), upstream builds serve ``/alerts``. Waits (default 30 s) for ``/-/ready``, then
prints the first candidate that answers 200, or BASE_URL itself (it redirects to the UI)
when none does. Standard library only.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

CANDIDATES = ("/alerts", "/classic/alerts")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def alerts_page(base: str, timeout: float = 30.0) -> str:
    base = base.rstrip("/")
    deadline = time.monotonic() + timeout
    while not answers(f"{base}/-/ready") and time.monotonic() < deadline:
        time.sleep(0.3)
    for path in CANDIDATES:
        if answers(base + path):
            return base + path
    return base + "/"


if __name__ == "__main__":
    print(alerts_page(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30.0))
