"""The instrument agent: the shared-instrument rule's repartition by (tenant, instrument).

Uses arrive through `wagerstream.instrument-uses` keyed by "{tenant}:{instrument_hash}", are
counted here, and hits go back keyed by player through `wagerstream.instrument-hits`, so the
player's own worker raises the alert and updates its read model.
"""

from __future__ import annotations

from typing import Any

import faust

from agents import statecodec
from agents.app import RISK, app, input_topic, serde, settings
from agents.rules import aml
from agents.runner import BatchState, Outcome, Send, run_batched_agent
from topics.catalogue import INSTRUMENT_HITS, INSTRUMENT_USES
from topics.serde import LoadedSchema

instrument_topic = input_topic(INSTRUMENT_USES)
instrument_players = statecodec.state_table(
    app.Table(
        "instrument_players",
        partitions=settings.topic_partitions,
        options=statecodec.store_options(
            settings.worker_rocksdb_write_buffer_mb, settings.worker_rocksdb_block_cache_mb
        ),
        help="Per (tenant, instrument): players who used it recently.",
    )
)


def handle_instrument_use(batch: BatchState, schema: LoadedSchema, use: dict[str, Any]) -> Outcome:
    key = f"{use['tenant_id']}:{use['instrument_hash']}"
    st = batch.get(instrument_players, key, dict)
    cfg = RISK.rules(use["tenant_id"], use["jurisdiction"])
    sends = [
        Send(INSTRUMENT_HITS, hit["player_id"].encode(), serde.encode(INSTRUMENT_HITS, hit))
        for hit in aml.on_instrument_use(st, use, cfg)
    ]
    return Outcome(sends=sends)


@app.agent(instrument_topic)
async def instruments(stream: faust.StreamT) -> None:
    await run_batched_agent("instruments", stream, handle_instrument_use)
