"""The campaigns websocket: ``/ws/campaigns/``.

Who may connect is decided by ``TenantConsumer`` (company from the Host, membership checked,
fail closed: a non-member is closed with 4403). A member's socket joins the company's
``campaigns`` group (``campaigns.realtime.progress_group``), whose coalesced progress events
(a few per second per campaign, never one per message) move the campaign pages. The group
name is scoped to the company's schema by ``core.realtime``, so another company's events
cannot reach it.
"""

from __future__ import annotations

from core.realtime import scoped_group
from tenants.websocket import TenantConsumer


class CampaignsConsumer(TenantConsumer):
    async def on_connected(self):
        from campaigns.realtime import progress_group

        await self._add(scoped_group(self.company.schema_name, progress_group()))
        await self.send_json({"type": "hello", "op": "ready", "company": self.company.slug})

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("action") == "ping":
            await self.send_json({"type": "pong", "op": "pong"})
