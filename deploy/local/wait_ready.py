"""Wait until a Kafka broker answers a real Metadata request, or fail.

Usage: wait_ready.py BOOTSTRAP TIMEOUT_SECONDS
Exit 0 when the broker lists itself in a metadata response, 1 on timeout.
"""

import sys
import time


def main() -> int:
    bootstrap, timeout = sys.argv[1], float(sys.argv[2])
    from kafka import KafkaAdminClient  # imported late: only the venv has it
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=3000, client_id="callfocus-wait-ready"
            )
            try:
                cluster = admin.describe_cluster()
            finally:
                admin.close()
            if cluster.get("brokers"):
                return 0
            last_error = "metadata response lists no broker"
        except (KafkaError, OSError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    print(f"kafka at {bootstrap} not ready after {timeout:.0f}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
