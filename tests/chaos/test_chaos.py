"""The short chaos run (tests/chaos/harness.py): kills, a broker restart, every bad kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import EXPECTED_REASONS, ChaosConfig, run_chaos

pytestmark = pytest.mark.integration


# about a minute when all is well; the harness bounds its waits, so a broken run ends
# with its report rather than at pytest's timeout
@pytest.mark.timeout(600)
def test_kills_broker_restart_and_bad_records_leave_summaries_exact_and_dead_letters_complete(
    tmp_path: Path,
) -> None:
    """5 SIGKILLs (one of a worker still restoring), one broker restart, 2,000 bad records of
    every kind among 40 valid calls: one exact summary per valid call, every bad record
    dead-lettered with its reason, no valid record dead-lettered, no worker exit but the kills."""
    config = ChaosConfig(
        calls=40,
        minutes=2.0,
        bad=2000,
        kills=5,
        restore_kills=1,
        workers=2,
        ready_timeout_seconds=60.0,
        drain_timeout_seconds=90.0,
    )
    report = run_chaos(config, tmp_path)
    print(report.table())

    # the run did what it is for
    assert len(report.kills) >= 5
    assert report.restore_kills >= 1, [k for k in report.kills]
    assert len(report.broker_outages) == 1
    assert {k.kind for k in report.kinds} == set(EXPECTED_REASONS)
    assert all(k.sent >= 50 for k in report.kinds)
    assert report.valid_calls == 40
    # and found nothing wrong (each line says what and how many)
    failures = report.failures()
    assert not failures, "\n".join(failures)
