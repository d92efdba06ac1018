"""Meta's message-template management API (Graph), for a WhatsApp Cloud channel's WABA.

Only the HTTP side lives here (rule 6 of the layout: Graph calls stay in ``inbox.providers``);
what the answers mean for the company's templates is ``campaigns.message_templates``.

- ``list_page`` / ``list_all``: ``GET /{waba_id}/message_templates``, paged by
  ``paging.cursors.after`` until ``paging.next`` is absent.
- ``create``: ``POST /{waba_id}/message_templates`` -> ``{"id", "status", "category"}``.
- ``edit``: ``POST /{template_id}`` with the whole ``components`` (and/or ``category``).
- ``delete``: ``DELETE /{waba_id}/message_templates?name=`` (every language) or with
  ``hsm_id`` (one language).
- ``upload_sample``: the resumable upload of a media header's sample, which answers the
  ``header_handle`` Meta wants in the header's ``example``.

Errors are ``TemplateApiError`` (a ``ProviderError``) carrying Meta's ``code``, ``subcode``
and its own words for people (``error_user_title`` / ``error_user_msg``).
"""

from __future__ import annotations

from typing import Any

import httpx

from inbox.providers.base import ProviderError
from inbox.providers.whatsapp_cloud import RETRYABLE_CODES, TIMEOUT, graph_url

# Fields asked for when syncing (Meta returns only ``id`` and ``name`` by default on some
# versions; asking is cheaper than a second request per template).
SYNC_FIELDS = "id,name,language,status,category,sub_category,parameter_format,components,quality_score,rejected_reason"
PAGE_SIZE = 100
MAX_PAGES = 200  # 20,000 templates: far past Meta's per-WABA limit; a loop guard, not a limit


class TemplateApiError(ProviderError):
    def __init__(self, title: Any, *, subcode: str = "", user_title: str = "", user_msg: str = "", **kwargs):
        super().__init__(title, **kwargs)
        self.subcode = subcode
        self.user_title = user_title
        self.user_msg = user_msg


def _error(response: httpx.Response) -> TemplateApiError:
    try:
        err = response.json().get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    code = str(err.get("code", "") or response.status_code)
    return TemplateApiError(
        str(err.get("error_user_title") or err.get("message") or f"HTTP {response.status_code}"),
        code=code,
        subcode=str(err.get("error_subcode", "") or ""),
        user_title=str(err.get("error_user_title") or ""),
        user_msg=str(err.get("error_user_msg") or ""),
        details=str((err.get("error_data") or {}).get("details") or err.get("message") or "")[:1000],
        retryable=code in RETRYABLE_CODES or response.status_code >= 500,
        status=response.status_code,
    )


class TemplateApi:
    """Template calls with the channel's access token (``channel``: an ``inbox.Channel`` of
    kind ``whatsapp_cloud``, secrets decrypted)."""

    def __init__(self, channel):
        self.channel = channel
        self.waba_id = str((channel.config or {}).get("waba_id", ""))
        if not self.waba_id:
            raise TemplateApiError("This channel has no WhatsApp Business account id.", code="config")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.channel.access_token}"}

    def _call(self, method: str, url: str, **kwargs) -> dict:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                response = client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TemplateApiError(
                "Could not reach the WhatsApp API.", code="network", details=str(exc), retryable=True
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        try:
            data = response.json()
        except ValueError:
            raise TemplateApiError("Unexpected answer from the WhatsApp API.", code=str(response.status_code)) from None
        return data if isinstance(data, dict) else {}

    def list_page(self, *, after: str = "", limit: int = PAGE_SIZE) -> tuple[list[dict], str]:
        """One page of templates and the cursor of the next one ("" on the last page)."""
        params: dict[str, Any] = {"fields": SYNC_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        data = self._call("GET", graph_url(f"{self.waba_id}/message_templates"), params=params)
        rows = [row for row in data.get("data") or [] if isinstance(row, dict)]
        paging = data.get("paging") or {}
        cursor = str((paging.get("cursors") or {}).get("after") or "") if paging.get("next") else ""
        return rows, cursor

    def list_all(self) -> list[dict]:
        rows: list[dict] = []
        after = ""
        for _page in range(MAX_PAGES):
            page, after = self.list_page(after=after)
            rows.extend(page)
            if not after:
                break
        return rows

    def create(self, payload: dict) -> dict:
        return self._call("POST", graph_url(f"{self.waba_id}/message_templates"), json=payload)

    def edit(self, template_id: str, payload: dict) -> dict:
        return self._call("POST", graph_url(str(template_id)), json=payload)

    def delete(self, *, name: str, hsm_id: str = "") -> dict:
        params = {"name": name}
        if hsm_id:
            params["hsm_id"] = hsm_id
        return self._call("DELETE", graph_url(f"{self.waba_id}/message_templates"), params=params)

    def upload_sample(self, *, content: bytes, mime: str) -> str:
        """Resumable upload of a header sample: open a session on the app, send the bytes,
        get the handle (``"4::..."``) for ``example.header_handle``."""
        info = self._call(
            "GET",
            graph_url("debug_token"),
            params={"input_token": self.channel.access_token},
        )
        app_id = str((info.get("data") or {}).get("app_id") or "")
        if not app_id:
            raise TemplateApiError("Could not find the Meta app of this channel's token.", code="config")
        session = self._call(
            "POST", graph_url(f"{app_id}/uploads"), params={"file_length": len(content), "file_type": mime}
        )
        upload_id = str(session.get("id") or "")
        if not upload_id:
            raise TemplateApiError("Unexpected answer from the WhatsApp API.", details=str(session)[:500])
        done = self._call(
            "POST",
            graph_url(upload_id),
            content=content,
            headers={"file_offset": "0", "Content-Type": mime},
        )
        handle = str(done.get("h") or "")
        if not handle:
            raise TemplateApiError("Unexpected answer from the WhatsApp API.", details=str(done)[:500])
        return handle
