"""``python -m tests.chaos``: the long chaos run of ``make chaos`` (options: ``--help``)."""

from tests.chaos.harness import main

main()
