"""Websocket side of tenancy: resolve the company from the Host header, fail closed."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import close_old_connections

from core.realtime import CLOSE_MEMBER_REMOVED, CLOSE_UNKNOWN_HOST, company_group, user_group
from tenants.models import Domain, Membership


def _header(scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def _host_from_scope(scope) -> str:
    return (_header(scope, b"host") or "").split(":")[0].lower()


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def same_origin(scope) -> bool:
    """The socket was opened by a page of this very host: the Origin's scheme, host and port
    are the Host's (another company's page is the same *site*, but not the same origin)."""
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host:
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    default = _DEFAULT_PORTS[scheme]
    expected = f"{scheme}://{host.lower().removesuffix(default)}"
    return origin.lower().removesuffix(default) == expected


class SameOriginMiddleware:
    """Refuses a websocket whose Origin is not exactly its Host (channels' allowed-hosts check
    accepted any subdomain of BASE_DOMAIN, so one company's page could read another's events)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.app(scope, receive, send)


@database_sync_to_async
def _company_for_host(host: str):
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None or domain.tenant.schema_name == "public" or not domain.tenant.is_active:
        return None
    return domain.tenant


class TenantWebsocketMiddleware:
    """Puts ``scope["tenant"]`` from the Host; an unknown host is refused before any consumer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        close_old_connections()
        company = await _company_for_host(_host_from_scope(scope))
        if company is None:
            await send({"type": "websocket.close", "code": CLOSE_UNKNOWN_HOST})
            return None
        scope = dict(scope, tenant=company)
        return await self.app(scope, receive, send)


@database_sync_to_async
def member_role(user, company) -> str | None:
    if not user or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, company=company).values_list("role", flat=True).first()


class TenantConsumer(AsyncJsonWebsocketConsumer):
    """Base consumer: only members of the Host's company may connect. Subclasses add groups
    with ``self.join(name)``; events arrive through ``app_event``."""

    async def connect(self):
        self.company = self.scope.get("tenant")
        self.user = self.scope.get("user")
        role = await member_role(self.user, self.company) if self.company else None
        if role is None:
            await self.close(code=CLOSE_MEMBER_REMOVED)
            return
        self.role = role
        self.groups_joined: list[str] = []
        await self._add(company_group(self.company.schema_name))
        await self._add(user_group(self.company.schema_name, self.user.pk))
        await self.accept()
        await self.on_connected()

    async def on_connected(self):
        await self.send_json({"type": "hello", "op": "ready", "company": self.company.slug})

    async def _add(self, group: str):
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def app_event(self, message):
        await self.send_json(message["event"])

    async def member_changed(self, message):
        """The member was removed or got another role (``membership_changed_on_commit``)."""
        await self.close(code=message["code"])


class EventsConsumer(TenantConsumer):
    """``/ws/events/``: every event of the member's company and of the member."""
