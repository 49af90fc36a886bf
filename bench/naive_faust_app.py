"""The baseline: the per-event Faust agent with one table update per segment.

This is the pattern Faust's documentation shows (``async for value in stream:
table[key] += 1``). Run by bench/load_bench.py as ``python bench/naive_faust_app.py worker``
with NAIVE_BOOTSTRAP, NAIVE_TOPIC, NAIVE_PARTITIONS, NAIVE_APP_ID and NAIVE_PORT in the environment.
"""

from __future__ import annotations

import os
from typing import Any

import faust

app = faust.App(
    os.environ["NAIVE_APP_ID"],
    env={},
    broker=f"kafka://{os.environ['NAIVE_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ.get("NAIVE_DATADIR", "/tmp/callfocus-naive"),
    web_port=int(os.environ["NAIVE_PORT"]),
    web_host="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    processing_guarantee="at_least_once",
    topic_partitions=int(os.environ["NAIVE_PARTITIONS"]),  # the table must match the topic
)
topic = app.topic(os.environ["NAIVE_TOPIC"], key_serializer="raw", value_serializer="raw")
counts = app.Table("segments", default=int, key_type=bytes, value_type=int)
seen = {"events": 0}


@app.agent(topic)
async def count(stream: Any) -> None:
    async for key, _value in stream.items():
        counts[key] += 1
        seen["events"] += 1


@app.page("/count")
async def count_view(web: Any, request: Any) -> Any:
    return web.json(seen)


if __name__ == "__main__":
    app.main()
