"""The board websocket: ``/ws/kanban/<pipeline id>/``.

Who may connect is decided by ``TenantConsumer`` (company from the Host, membership checked,
fail closed). The socket then joins the group of that pipeline inside the company's scope
(``core.realtime.scoped_group``), after checking the pipeline exists in the company's own
schema: a pipeline id of another company is refused (4404), and could only ever name a group of
the caller's own company anyway.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from core.realtime import CLOSE_UNKNOWN_HOST, scoped_group
from tenants.websocket import TenantConsumer


@database_sync_to_async
def _pipeline_exists(schema_name: str, pipeline_id: int) -> bool:
    from django_tenants.utils import schema_context

    from kanban.models import Pipeline

    with schema_context(schema_name):
        return Pipeline.objects.filter(pk=pipeline_id).exists()


class BoardConsumer(TenantConsumer):
    async def on_connected(self):
        from kanban.realtime import board_group

        pipeline_id = int(self.scope["url_route"]["kwargs"]["pipeline_id"])
        if not await _pipeline_exists(self.company.schema_name, pipeline_id):
            await self.close(code=CLOSE_UNKNOWN_HOST)
            return
        await self._add(scoped_group(self.company.schema_name, board_group(pipeline_id)))
        await self.send_json({"type": "hello", "op": "ready", "company": self.company.slug, "pipeline": pipeline_id})

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("action") == "ping":
            await self.send_json({"type": "pong", "op": "pong"})
