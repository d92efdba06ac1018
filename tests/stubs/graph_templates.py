"""Message-template management of the Graph stub (``GraphStub`` mixes this in): Meta's own
request, response and error formats for

- ``GET  /{waba_id}/message_templates`` (``fields``, ``limit``, ``after``; paged by
  ``paging.cursors`` and ``paging.next``, as Meta pages);
- ``POST /{waba_id}/message_templates`` (create: answers ``{"id", "status", "category"}``, or
  Meta's error object with the subcodes of its create rules);
- ``POST /{template_id}`` (edit: components or category replaced whole, only for APPROVED,
  REJECTED or PAUSED templates);
- ``DELETE /{waba_id}/message_templates?name=...[&hsm_id=...]`` (every language, or one);
- the resumable upload of a media header's sample (``POST /{app_id}/uploads`` then
  ``POST /upload:<id>``), which gives the ``header_handle`` a media header's example needs.

``review(template_id, event, ...)`` plays Meta's reviewer: it changes the stored template and
returns the ``message_template_status_update`` webhook Meta would send;
``quality(template_id, score)`` does the same for ``message_template_quality_update``.
``template_errors`` (a list of ``(HTTP status, Graph error)``) answers the next creates or
edits with those errors, whatever they carry.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any

from tests.stubs.http import Recorded

# Meta's create/edit errors: subcode -> (user title, user message). Code 100 ("Invalid
# parameter") with these subcodes, as the Graph API answers them.
TEMPLATE_ERRORS: dict[int, tuple[str, str]] = {
    2388019: ("Message template limit exceeded", "You have reached the limit of message templates for this account."),
    2388023: (
        "Message Template Language Is Being Deleted",
        "New English (US) content can't be added while the existing English (US) content is being deleted. "
        "Try again in 4 weeks or consider creating a new message template.",
    ),
    2388024: (
        "Message Template Already Exists",
        "Content in this language already exists. Try to edit the existing content or create a new template.",
    ),
    2388040: ("Message template character limit exceeded", "Field exceeds the maximum number of characters."),
    2388047: ("Message header format is incorrect", "Header format is incorrect."),
    2388072: ("Message body format is incorrect", "Body format is incorrect."),
    2388073: ("Message footer format is incorrect", "Footer format is incorrect."),
    2388293: (
        "Parameters-to-length ratio exceeded",
        "This template contains too many variable parameters relative to the message length. "
        "You need to decrease the number of variable parameters or increase the message length.",
    ),
    2388299: (
        "Variables can't be at the start or end of the template",
        "Variables can't be at the start or end of the template.",
    ),
}

_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
EDITABLE = {"APPROVED", "REJECTED", "PAUSED"}
MAX_PAGE = 100  # Meta caps ``limit``; tests lower it to see several pages


def template_error(subcode: int, *, status: int = 400) -> tuple[int, dict]:
    title, message = TEMPLATE_ERRORS.get(subcode, ("Invalid parameter", "Invalid parameter"))
    return status, {
        "error": {
            "message": "Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": subcode,
            "is_transient": False,
            "error_user_title": title,
            "error_user_msg": message,
            "fbtrace_id": "A" + secrets.token_hex(8),
        }
    }


def _invalid(message: str) -> tuple[int, dict]:
    return 400, {
        "error": {
            "message": f"(#100) {message}",
            "type": "OAuthException",
            "code": 100,
            "fbtrace_id": "A" + secrets.token_hex(8),
        }
    }


def template_webhook(waba_id: str, field: str, value: dict) -> dict:
    """A Meta ``whatsapp_business_account`` webhook with one template change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "time": int(time.time()), "changes": [{"value": value, "field": field}]}],
    }


class TemplatesMixin:
    """State and routes of the template API (see the module docstring)."""

    version: str
    url: str

    def reset_templates(self) -> None:
        self.templates: dict[str, list[dict]] = {}  # waba id -> templates as Meta stores them
        self.template_errors: list[tuple[int, dict]] = []
        self.uploads: dict[str, bytes] = {}
        self.max_page = MAX_PAGE

    def add_template(self, waba_id: str, **template: Any) -> dict:
        """Put a template in the WABA as if it had been made in WhatsApp Manager."""
        stored = {
            "id": str(template.pop("id", "") or 10**15 + secrets.randbelow(10**15)),
            "status": "APPROVED",
            "category": "MARKETING",
            "language": "pt_BR",
            "parameter_format": "POSITIONAL",
            "components": [{"type": "BODY", "text": "Olá!"}],
            "quality_score": {"score": "UNKNOWN", "date": int(time.time())},
            **template,
        }
        self.templates.setdefault(waba_id, []).append(stored)
        return stored

    def find_template(self, template_id: str) -> tuple[str, dict] | None:
        for waba_id, templates in self.templates.items():
            for template in templates:
                if template["id"] == str(template_id):
                    return waba_id, template
        return None

    def review(self, template_id: str, event: str, *, reason: str = "NONE", title: str = "") -> dict:
        """Meta decides: the stored status changes and the webhook Meta sends is returned."""
        found = self.find_template(template_id)
        assert found is not None, template_id
        waba_id, template = found
        template["status"] = event
        if event == "REJECTED":
            template["rejected_reason"] = reason
        value: dict[str, Any] = {
            "event": event,
            "message_template_id": int(template["id"]),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
            "reason": reason if event == "REJECTED" else None,
        }
        if event in {"PAUSED", "DISABLED"}:
            value["other_info"] = {
                "title": title or ("FIRST_PAUSE" if event == "PAUSED" else "DISABLED"),
                "description": "Your WhatsApp message template has been paused for 3 hours due to low quality.",
            }
        return template_webhook(waba_id, "message_template_status_update", value)

    def quality(self, template_id: str, score: str) -> dict:
        found = self.find_template(template_id)
        assert found is not None, template_id
        waba_id, template = found
        previous = template.get("quality_score", {}).get("score", "UNKNOWN")
        template["quality_score"] = {"score": score, "date": int(time.time())}
        value = {
            "previous_quality_score": previous,
            "new_quality_score": score,
            "message_template_id": int(template["id"]),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
        }
        return template_webhook(waba_id, "message_template_quality_update", value)

    # --- routes ---------------------------------------------------------------------------

    def route_templates(self, rest: str, record: Recorded):
        """Answer a template request, or ``None`` when ``rest`` is not one."""
        match = re.fullmatch(r"(\d+)/message_templates", rest)
        if match:
            waba_id = match.group(1)
            if record.method == "GET":
                return self._list(waba_id, record)
            if record.method == "POST":
                return self._create(waba_id, record.json())
            if record.method == "DELETE":
                return self._delete(waba_id, record)
        match = re.fullmatch(r"(\d+)/uploads", rest)
        if match and record.method == "POST":
            upload_id = "upload:" + base64.b64encode(secrets.token_bytes(12)).decode()
            self.uploads[upload_id] = b""
            return 200, {}, {"id": upload_id}
        if rest.startswith("upload:") and record.method == "POST":
            if rest not in self.uploads:
                return _invalid("Invalid upload session")
            self.uploads[rest] = record.body
            return 200, {}, {"h": "4::" + base64.b64encode(secrets.token_bytes(24)).decode()}
        match = re.fullmatch(r"(\d+)", rest)
        if match and record.method == "POST" and self.find_template(match.group(1)):
            return self._edit(match.group(1), record.json())
        return None

    def _list(self, waba_id: str, record: Recorded):
        templates = self.templates.get(waba_id, [])
        try:
            limit = min(int(record.query.get("limit", ["25"])[0]), self.max_page)
        except ValueError:
            return _invalid("Param limit must be an integer")
        after = record.query.get("after", [""])[0]
        start = int(base64.b64decode(after).decode()) if after else 0
        fields = [f for f in record.query.get("fields", [""])[0].split(",") if f]
        page = templates[start : start + limit]
        data = [{k: v for k, v in t.items() if not fields or k in fields or k == "id"} for t in page]
        body: dict[str, Any] = {"data": data}
        if templates:
            body["paging"] = {
                "cursors": {
                    "before": base64.b64encode(str(start).encode()).decode(),
                    "after": base64.b64encode(str(start + len(page)).encode()).decode(),
                }
            }
            if start + limit < len(templates):
                cursor = body["paging"]["cursors"]["after"]
                body["paging"]["next"] = (
                    f"{self.url}/{self.version}/{waba_id}/message_templates?limit={limit}&after={cursor}"
                    + (f"&fields={','.join(fields)}" if fields else "")
                )
        return 200, {}, body

    def _rules(self, components: list[dict]) -> tuple[int, dict] | None:
        """The create rules Meta checks itself (a few, enough to see its answers)."""
        for component in components:
            kind = str(component.get("type", "")).upper()
            text = str(component.get("text") or "")
            if kind == "BODY":
                if len(text) > 1024:
                    return template_error(2388040)
                stripped = text.strip()
                if _VARIABLE.match(stripped) or re.search(r"\{\{\s*[A-Za-z0-9_]+\s*\}\}$", stripped):
                    return template_error(2388299)
                variables = _VARIABLE.findall(text)
                words = len(_VARIABLE.sub(" ", text).split())
                if variables and words < 2 * len(variables) + 1:
                    return template_error(2388293)
                if variables and not (component.get("example") or {}):
                    return _invalid("Param example is required when the body has variables")
            if kind in {"HEADER", "FOOTER"} and len(text) > 60:
                return template_error(2388040)
        return None

    def _create(self, waba_id: str, body: dict):
        if self.template_errors:
            status, error = self.template_errors.pop(0)
            return status, {}, error
        name = str(body.get("name", ""))
        if not _NAME.match(name):
            status, error = _invalid("Param name must contain only lowercase characters, numbers and underscores")
            return status, {}, error
        for key in ("language", "category", "components"):
            if not body.get(key):
                status, error = _invalid(f"The parameter {key} is required.")
                return status, {}, error
        for existing in self.templates.get(waba_id, []):
            if existing["name"] == name and existing["language"] == body["language"]:
                status, error = template_error(2388024)
                return status, {}, error
        broken = self._rules(body["components"])
        if broken:
            return broken[0], {}, broken[1]
        template = self.add_template(
            waba_id,
            name=name,
            language=body["language"],
            category=body["category"],
            parameter_format=body.get("parameter_format", "POSITIONAL"),
            components=body["components"],
            status="PENDING",
        )
        return 200, {}, {"id": template["id"], "status": "PENDING", "category": template["category"]}

    def _edit(self, template_id: str, body: dict):
        if self.template_errors:
            status, error = self.template_errors.pop(0)
            return status, {}, error
        found = self.find_template(template_id)
        assert found is not None
        _waba_id, template = found
        if template["status"] not in EDITABLE:
            status, error = _invalid("Message templates can only be edited when they are approved, rejected or paused")
            return status, {}, error
        if "components" in body:
            broken = self._rules(body["components"])
            if broken:
                return broken[0], {}, broken[1]
            template["components"] = body["components"]
        if "category" in body:
            template["category"] = body["category"]
        template["status"] = "PENDING"
        return 200, {}, {"success": True}

    def _delete(self, waba_id: str, record: Recorded):
        name = record.query.get("name", [""])[0]
        hsm_id = record.query.get("hsm_id", [""])[0]
        if not name:
            status, error = _invalid("The parameter name is required.")
            return status, {}, error
        templates = self.templates.get(waba_id, [])
        keep = [t for t in templates if not (t["name"] == name and (not hsm_id or t["id"] == hsm_id))]
        if len(keep) == len(templates):
            status, error = _invalid("Message template not found")
            return status, {}, error
        self.templates[waba_id] = keep
        return 200, {}, {"success": True}
