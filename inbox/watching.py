"""Which conversations an agent has open right now, per company (a Redis sorted set).

Delivery ticks only matter to whoever is looking at the conversation. A campaign's burst of
status reports touches a different conversation with every message; sending each one to its
conversation's channel-layer group would cost a Redis round trip per message, almost always to
a group nobody is in. Sockets record the conversations they follow here (member: conversation
id, score: when the entry expires), refreshed by the client's keep-alive ping; the worker reads
the set once per batch and sends ticks to those conversations only. Everyone else sees the
current ticks when they open a conversation, and reconnecting clients catch up from the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from core.redis import async_redis_client, redis_client

logger = logging.getLogger(__name__)

# Clients ping every 25 seconds; an entry outlives two missed pings.
WATCH_TTL = 60


def watch_key(schema_name: str) -> str:
    return f"inbox:watched:{schema_name}"


async def watch(schema_name: str, conversation_ids: Iterable[int]) -> None:
    """Mark conversations as open on a socket for the next ``WATCH_TTL`` seconds."""
    ids = list(conversation_ids)
    if not ids:
        return
    expires = time.time() + WATCH_TTL
    try:
        await async_redis_client().zadd(watch_key(schema_name), {str(cid): expires for cid in ids})
    except Exception:  # noqa: BLE001 - ticks then wait for the next ping or a reload
        logger.warning("could not record watched conversations of %s", schema_name)


def watched(schema_name: str) -> set[int] | None:
    """Conversations someone has open now; ``None`` when Redis cannot tell (send to all)."""
    now = time.time()
    key = watch_key(schema_name)
    try:
        pipe = redis_client().pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrangebyscore(key, now, "+inf")
        _removed, members = pipe.execute()
    except Exception:  # noqa: BLE001 - fall back to sending every tick
        logger.warning("could not read watched conversations of %s", schema_name)
        return None
    return {int(member) for member in members}
