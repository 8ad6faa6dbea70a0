"""A no-op agent over the same topics as the player agent: the framework's own ceiling.

`WAGERSTREAM_WORKER_AGENTS=noop wagerstream worker` runs it instead of the real agents, so the
throughput
benchmark can report the full worker's rate as a share of what Faust itself reaches on this
machine (consume, batch, ack; no decoding, no state, no sinks), with the worker's batch
settings so the ratio compares like with like.
"""

from __future__ import annotations

import faust

from agents.app import app, input_topic, settings
from agents.metrics import EVENTS_OUT
from topics.catalogue import BET_TICKS, INPUT_TOPICS, INSTRUMENT_HITS

noop_topic = input_topic(*INPUT_TOPICS, INSTRUMENT_HITS, BET_TICKS)


@app.agent(noop_topic)
async def noop(stream: faust.StreamT) -> None:
    async for events in stream.take_events(settings.worker_batch_max, settings.worker_batch_wait_s):
        for event in events:
            EVENTS_OUT.labels("noop", event.message.topic).inc()
