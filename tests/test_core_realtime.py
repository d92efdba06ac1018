"""The realtime transport's sender loop (core.realtime.send_many) on the real Redis channel layer."""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from core.realtime import send_many


async def test_batches_sent_without_waiting_arrive_in_the_order_they_were_queued():
    layer = get_channel_layer()
    group = f"t.test.order.{uuid.uuid4().hex[:8]}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:

        def queue_batches() -> None:
            # Batches of different sizes: a smaller later batch must not overtake a larger one.
            for n in range(8):
                send_many(
                    [(group, {"type": "app.event", "event": {"n": n, "part": i}}) for i in range(8 - n)], wait=False
                )

        await sync_to_async(queue_batches)()
        received = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(sum(range(1, 9)))]
    finally:
        await layer.group_discard(group, channel)
    batches = [message["event"]["n"] for message in received]
    assert batches == sorted(batches)
    assert sorted((m["event"]["n"], m["event"]["part"]) for m in received) == [
        (n, i) for n in range(8) for i in range(8 - n)
    ]
