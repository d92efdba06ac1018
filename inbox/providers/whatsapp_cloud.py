"""Meta WhatsApp Cloud API (Graph API). Base URL and version are settings, so tests talk to a
loopback stub speaking the same request and response formats."""

from __future__ import annotations

import json as _json
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inbox.providers.base import FetchedMedia, Outbound, Outcome, ParsedEvent, Provider, ProviderError, SendResult
from inbox.providers.download import DownloadFailed, download
from inbox.providers.meta import parse_meta_payload, verify_meta_signature

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# Shown to agents with the failed message (error title).
ERR_UNREACHABLE = _("Could not reach the WhatsApp API.")
ERR_UNEXPECTED = _("Unexpected answer from the WhatsApp API.")
ERR_MEDIA_GONE = _("The media is no longer available.")
ERR_MEDIA_DOWNLOAD = _("Could not download the media.")
# Graph API error codes worth retrying: rate limits, temporary and service errors.
RETRYABLE_CODES = {"1", "2", "4", "80007", "130429", "131000", "131016", "131056"}
# Codes meaning the access token is invalid or expired: the channel has a token problem.
TOKEN_ERROR_CODES = {"190", "102", "463", "467"}


def graph_url(path: str) -> str:
    base = settings.WHATSAPP_GRAPH_URL.rstrip("/")
    return f"{base}/{settings.WHATSAPP_GRAPH_VERSION}/{path.lstrip('/')}"


def graph_error(response: httpx.Response) -> ProviderError:
    """A ``ProviderError`` from a Graph API error object (``{"error": {...}}``)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    return graph_error_from(response.status_code, data)


def graph_error_from(status: int, data: Any) -> ProviderError:
    err = (data.get("error") if isinstance(data, dict) else None) or {}
    if not isinstance(err, dict):
        err = {}
    code = str(err.get("code", "") or status)
    details = str((err.get("error_data") or {}).get("details") or "")
    title = str(err.get("error_user_title") or err.get("message") or f"HTTP {status}")
    return ProviderError(
        title,
        code=code,
        details=details or str(err.get("error_user_msg") or ""),
        retryable=code in RETRYABLE_CODES or status >= 500,
        status=status,
    )


def cloud_message_body(item: Outbound) -> dict[str, Any]:
    """The ``POST /{phone_number_id}/messages`` body of a batch item."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": item.to.lstrip("+")}
    if item.template is not None:
        template: dict[str, Any] = {"name": item.template["name"], "language": {"code": item.template["language"]}}
        if item.template.get("components"):
            template["components"] = item.template["components"]
        body["type"] = "template"
        body["template"] = template
    elif item.media is not None:
        kind = str(item.media["kind"])
        body["type"] = kind
        body[kind] = {k: item.media[k] for k in ("id", "link", "caption", "filename") if item.media.get(k)}
    else:
        body["type"] = "text"
        body["text"] = {"body": item.text, "preview_url": "http" in item.text}
    if item.ref:
        body["biz_opaque_callback_data"] = item.ref
    return body


def _body(item: Outbound) -> bytes:
    return _json.dumps(cloud_message_body(item), separators=(",", ":"), ensure_ascii=False).encode()


class WhatsAppCloudProvider(Provider):
    kind = "whatsapp_cloud"
    supports_templates = True
    supports_reactions = True
    supports_media = True

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.channel.access_token}"}

    def _request(self, method: str, path: str, **kwargs) -> dict:
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                response = client.request(method, graph_url(path), headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderError(ERR_UNREACHABLE, code="network", details=str(exc), retryable=True) from exc
        if response.status_code >= 400:
            raise graph_error(response)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(ERR_UNEXPECTED, code=str(response.status_code)) from None

    def _send(self, to: str, message: dict[str, Any]) -> SendResult:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+"), **message}
        data = self._request("POST", f"{self.channel.phone_number_id}/messages", json=body)
        try:
            wamid = str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise ProviderError(ERR_UNEXPECTED, details=str(data)[:500]) from None
        return SendResult(provider_message_id=wamid, raw=data)

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> SendResult:
        message: dict[str, Any] = {"type": "text", "text": {"body": text, "preview_url": "http" in text}}
        if reply_to:
            message["context"] = {"message_id": reply_to}
        return self._send(to, message)

    def send_template(self, *, to: str, name: str, language: str, components: list | None = None) -> SendResult:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        return self._send(to, {"type": "template", "template": template})

    def upload_media(self, *, content: bytes, mime: str, filename: str) -> str:
        data = self._request(
            "POST",
            f"{self.channel.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (filename or "file", content, mime)},
        )
        return str(data.get("id", ""))

    def send_media(
        self, *, to: str, kind: str, content: bytes, mime: str, filename: str, caption: str = ""
    ) -> SendResult:
        media_id = self.upload_media(content=content, mime=mime, filename=filename)
        part: dict[str, Any] = {"id": media_id}
        if caption and kind in {"image", "video", "document"}:
            part["caption"] = caption
        if kind == "document" and filename:
            part["filename"] = filename
        result = self._send(to, {"type": kind, kind: part})
        result.raw["media_id"] = media_id
        return result

    def send_reaction(self, *, to: str, provider_message_id: str, emoji: str) -> SendResult:
        return self._send(to, {"type": "reaction", "reaction": {"message_id": provider_message_id, "emoji": emoji}})

    def mark_read(self, *, provider_message_id: str) -> None:
        self._request(
            "POST",
            f"{self.channel.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": provider_message_id},
        )

    def verify_signature(self, *, body: bytes, headers, url: str = "", params=None) -> bool:
        return verify_meta_signature(self.channel.app_secret, body, headers.get("X-Hub-Signature-256"))

    def parse(self, payload: Any) -> ParsedEvent:
        return parse_meta_payload(payload, phone_number_id=self.channel.phone_number_id)

    def fetch_media(self, *, media_id: str) -> FetchedMedia:
        """Two steps, as the Graph API wants: the media object gives a short-lived URL, which is
        downloaded with the same bearer token."""
        meta = self._request("GET", media_id)
        url = meta.get("url")
        if not url or not isinstance(url, str):
            raise ProviderError(ERR_MEDIA_GONE, code="media")
        # The bearer token goes only to Meta's own media hosts (WHATSAPP_MEDIA_HOSTS) or the
        # Graph API itself; nowhere else, redirects included, and the size is capped.
        media_hosts = [f"https://{host}" for host in settings.WHATSAPP_MEDIA_HOSTS]
        try:
            content, content_type = download(
                url, trusted=[settings.WHATSAPP_GRAPH_URL, *media_hosts], public_https=False, headers=self._headers()
            )
        except DownloadFailed as exc:
            raise graph_error(exc.response) from None
        mime = str(meta.get("mime_type") or content_type or "application/octet-stream")
        return FetchedMedia(content=content, mime=mime.split(";")[0].strip())

    def _send_target(self) -> tuple[str, bytes]:
        """The send URL and header lines, once per provider: a campaign sends thousands
        through one."""
        from inbox.providers import http

        cached = self.__dict__.get("_target")
        if cached is None:
            cached = self.__dict__["_target"] = (
                graph_url(f"{self.channel.phone_number_id}/messages"),
                http.header_lines(self._headers()),
            )
        return cached

    @staticmethod
    def _outcome(item: Outbound, status: int, data: Any) -> Outcome:
        if status >= 400:
            return Outcome(ref=item.ref, error=graph_error_from(status, data))
        try:
            wamid = str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            error = ProviderError("Unexpected answer from the WhatsApp API.", details=str(data)[:500], uncertain=True)
            return Outcome(ref=item.ref, error=error)
        return Outcome(ref=item.ref, result=SendResult(provider_message_id=wamid))

    async def asend(self, item: Outbound) -> Outcome:
        from inbox.providers import http

        url, headers = self._send_target()
        status, data = await http.post(url, _body(item), headers=headers, what="the WhatsApp API")
        outcome = self._outcome(item, status, data)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def batch_prepare(self, items: list[Outbound]) -> list[bytes]:
        """The request bodies, encoded ahead of the send."""
        return [_body(item) for item in items]

    async def send_batch(self, items: list[Outbound], *, prepared: list[Any] | None = None) -> list[Outcome]:
        """All of ``items`` at once over the pooled keep-alive connections (``http.post_many``):
        the requests leave in one go right after the caller's claim."""
        from inbox.providers import http

        url, headers = self._send_target()
        bodies = prepared if prepared is not None else self.batch_prepare(items)
        answers = await http.post_many(url, bodies, headers=headers, what="the WhatsApp API")
        return [
            Outcome(ref=item.ref, error=answer) if isinstance(answer, ProviderError) else self._outcome(item, *answer)
            for item, answer in zip(items, answers, strict=True)
        ]

    def phone_number(self) -> dict:
        """``GET /<phone_number_id>``: Meta shows a number's node only to a token with access to
        it (the proof that the number belongs to whoever connected it)."""
        return self._request("GET", self.channel.phone_number_id, params={"fields": "id,display_phone_number"})

    def debug_token(self) -> dict:
        """``GET /debug_token``: validity and expiry of the channel's access token."""
        # The token that authorizes the call goes in the Authorization header (``_request``);
        # Graph wants the inspected one in the query string, which is therefore never logged
        # (the httpx and httpcore loggers stay at WARNING).
        data = self._request("GET", "debug_token", params={"input_token": self.channel.access_token})
        info = data.get("data") or {}
        expires = info.get("expires_at") or 0
        return {
            "is_valid": bool(info.get("is_valid")),
            # 0 means a token that never expires (system user tokens).
            "expires_at": datetime.fromtimestamp(int(expires), tz=UTC) if expires else None,
            "scopes": info.get("scopes") or [],
            "error": (info.get("error") or {}).get("message", ""),
        }
