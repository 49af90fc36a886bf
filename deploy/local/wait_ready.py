"""Wait until a Kafka broker answers a real Metadata request, or fail.

Usage: wait_ready.py BOOTSTRAP TIMEOUT_SECONDS
Exit 0 when the broker lists itself in a metadata response, 1 on timeout. A SASL_SSL broker
(kafka.sh start --sasl-ssl) is asked with the client settings kafka.sh passes in
CALLFOCUS_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD, _SSL_CAFILE.
"""

import os
import sys
import time


def security_options() -> dict[str, str]:
    protocol = os.environ.get("CALLFOCUS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol != "SASL_SSL":
        return {}
    return {
        "security_protocol": protocol,
        "sasl_mechanism": os.environ["CALLFOCUS_KAFKA_SASL_MECHANISM"],
        "sasl_plain_username": os.environ["CALLFOCUS_KAFKA_SASL_USERNAME"],
        "sasl_plain_password": os.environ["CALLFOCUS_KAFKA_SASL_PASSWORD"],
        "ssl_cafile": os.environ["CALLFOCUS_KAFKA_SSL_CAFILE"],
    }


def main() -> int:
    bootstrap, timeout = sys.argv[1], float(sys.argv[2])
    from kafka import KafkaAdminClient  # imported late: only the venv has it
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=3000,
                client_id="callfocus-wait-ready",
                **security_options(),
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
