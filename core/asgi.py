"""A cap on request bodies, before Django sees them.

Django's ASGI handler reads a whole request body into a temporary file before any view runs,
whatever its size, and neither Django nor uvicorn limits multipart uploads: an authenticated
client could fill the disk (or memory) with one request. Here a body longer than the cap is
refused with 413 as soon as its declared length (or the bytes actually sent) says so. Views
keep their own, smaller limits (16 MB media, 100 MB imports) with their own messages.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

ERR_BODY_TOO_LARGE = _("The request is too large (at most %(size)s MB).")


def _max_bytes() -> int:
    return int(settings.REQUEST_BODY_MAX_MB) * 1024 * 1024


class BodySizeLimit:
    """ASGI middleware for ``http`` requests (websockets and lifespan pass through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = _max_bytes()
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    return await _refuse(send)
        state = {"received": 0, "over": False, "started": False}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, counting_receive, tracking_send)
        if state["over"] and not state["started"]:
            await _refuse(send)
        return None


async def _refuse(send) -> None:
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        text = str(ERR_BODY_TOO_LARGE % {"size": settings.REQUEST_BODY_MAX_MB}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": text})
