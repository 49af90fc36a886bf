"""The kinds of record a worker writes, as the ``output`` label of its output counters."""

from enum import StrEnum


class OutputKind(StrEnum):
    """What a written record is; the value is its ``output`` label in
    ``callfocus_outputs_produced_total`` and ``callfocus_output_errors_total``."""

    METRICS = "metrics"  # CallMetrics snapshots
    SUMMARIES = "summaries"  # CallSummary of an ended call
    DEAD_LETTERS = "dead_letters"  # refused input records, copied to the dead-letter topic
    NUDGES = "nudges"
    STATE = "state"  # call-state changelog records
    IDLE_CALL_ENDS = "idle_call_ends"  # CallEnded(timeout) sent to the input topic
