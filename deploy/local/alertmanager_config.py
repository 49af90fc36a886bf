"""Write deploy/prometheus/alertmanager.yml for a local Alertmanager: the supervisors' alerts
go to the console of a worker on this machine, with the console token read from a file.

    alertmanager_config.py <console base URL> <token file> <output file>

Only the console receiver's URL and token file change; routes and grouping stay as shipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parents[1] / "prometheus" / "alertmanager.yml"
RECEIVER = "supervisors-console"


def local_config(console_url: str, token_file: str) -> dict:
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    [receiver] = [r for r in config["receivers"] if r["name"] == RECEIVER]
    for webhook in receiver["webhook_configs"]:
        webhook["url"] = console_url.rstrip("/") + "/api/alertmanager"
        webhook["http_config"]["authorization"]["credentials_file"] = token_file
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: alertmanager_config.py <console base URL> <token file> <output file>", file=sys.stderr)
        return 2
    console_url, token_file, output = argv
    Path(output).write_text(yaml.safe_dump(local_config(console_url, token_file), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
