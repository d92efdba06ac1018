"""Link tracking: the links of a campaign's texts (WhatsApp Web, SMS, sandbox) and the variable
suffix of a Cloud template's tracked URL button go out as a short address on the company's
own domain, one per recipient: ``https://<company>.<domain>/l/<code>``.

The code names the link and the recipient and carries a signature (HMAC of the company's
schema, the link and the recipient with the project's secret), so a code cannot be made up or
moved to another company. The redirect reads the destination from the ``CampaignLink`` row,
never from the request: it cannot be used as an open redirect.

- ``campaign_links_prepare`` (when a campaign is created): one ``CampaignLink`` per distinct
  link of each variant's text, and one per tracked URL button of its template.
- ``LinkRewriter`` (the engine, per recipient at send time): ``text()`` swaps the links of a
  rendered text for their short addresses, ``values()`` gives the button suffixes (the
  ``link.button.<index>`` sources of the variable mapping).
- ``link_click`` (the redirect): counts the click per link, and the first click of a
  recipient on the recipient, its variant and the campaign, in one statement.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from campaigns.models import Campaign, CampaignLink, TemplateOrigin
from core.tenancy import require_tenant_schema

URL_RE = re.compile(r"https?://[^\s<>\"'{}|\\^`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SIGNATURE_CHARS = 8
# Link-preview fetchers: they open the address but nobody clicked.
PREVIEW_AGENTS = ("whatsapp", "facebookexternalhit", "telegrambot", "slackbot", "twitterbot", "skypeuripreview")
BUTTON_SOURCE = "link.button."


def _b62(number: int) -> str:
    if number <= 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 62)
        out.append(ALPHABET[rest])
    return "".join(reversed(out))


def _from_b62(text: str) -> int | None:
    number = 0
    for ch in text:
        index = ALPHABET.find(ch)
        if index < 0:
            return None
        number = number * 62 + index
    return number


def _signature(schema: str, link_id: int, recipient_id: int) -> str:
    key = hashlib.sha256(f"campaigns.links:{settings.SECRET_KEY}".encode()).digest()
    digest = hmac.new(key, f"{schema}:{link_id}:{recipient_id}".encode(), hashlib.sha256).digest()
    return _b62(int.from_bytes(digest[:8], "big")).rjust(SIGNATURE_CHARS, "0")[:SIGNATURE_CHARS]


def link_code(schema: str, link_id: int, recipient_id: int) -> str:
    return f"{_b62(link_id)}.{_b62(recipient_id)}.{_signature(schema, link_id, recipient_id)}"


def parse_code(schema: str, code: str) -> tuple[int, int] | None:
    """``(link id, recipient id)`` of a genuine code of this company, else ``None``."""
    parts = (code or "").split(".")
    if len(parts) != 3 or len(code) > 64:
        return None
    link_id, recipient_id = _from_b62(parts[0]), _from_b62(parts[1])
    if not link_id or recipient_id is None:
        return None
    if not hmac.compare_digest(parts[2], _signature(schema, link_id, recipient_id)):
        return None
    return link_id, recipient_id


def short_base() -> str:
    """``https://<company>.<domain>/l/`` of the current company."""
    from tenants.context import current_company
    from tenants.services import workspace_url

    return workspace_url(current_company(), "/l/")


def urls_in(text: str) -> list[str]:
    """The distinct links of a text, in order (trailing punctuation is not part of a link)."""
    out: list[str] = []
    text = text or ""
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(TRAILING)
        if text.startswith("{{", match.end()) or url in out:
            continue  # a link completed by a variable differs per person: sent as it is
        out.append(url)
    return out


def is_tracked_button(url: str) -> bool:
    """A template URL button that points at our short redirect (``.../l/{{1}}``)."""
    return bool(re.search(r"/l/\{\{\s*[A-Za-z0-9_]+\s*\}\}$", url or ""))


@transaction.atomic
def campaign_links_prepare(*, campaign: Campaign) -> list[CampaignLink]:
    """The tracked links of a new campaign (call once, right after it is created)."""
    created: list[CampaignLink] = []
    channel_kind = campaign.channel.kind
    for variant in campaign.variants.select_related("template").order_by("key"):
        template = variant.template
        if template is not None and template.origin == TemplateOrigin.META and channel_kind == "whatsapp_cloud":
            mapping = {**(template.variables or {}), **(campaign.variables or {}), **(variant.variables or {})}
            buttons = (template.component("BUTTONS") or {}).get("buttons") or []
            for index, button in enumerate(buttons):
                spec = mapping.get(f"button.{index}.1") or {}
                destination = str(spec.get("url") or "")
                if str(button.get("type", "")).upper() == "URL" and is_tracked_button(button.get("url", "")):
                    if destination.startswith(("http://", "https://")):
                        created.append(
                            CampaignLink.objects.create(
                                campaign=campaign, variant=variant, button_index=index, position=index, url=destination
                            )
                        )
            continue
        body = variant.body
        if not body and template is not None:
            body = str((template.component("BODY") or {}).get("text", ""))
        for position, url in enumerate(urls_in(body)[:20]):
            created.append(
                CampaignLink.objects.create(campaign=campaign, variant=variant, position=position, url=url[:2000])
            )
    return created


@dataclass
class LinkRewriter:
    """The short addresses of one campaign's links, per recipient (the engine builds one per
    run with ``for_campaign`` and calls it for every message)."""

    schema: str
    base: str
    by_variant: dict[int, list[CampaignLink]]

    @classmethod
    def for_campaign(cls, campaign: Campaign) -> LinkRewriter:
        by_variant: dict[int, list[CampaignLink]] = {}
        for link in CampaignLink.objects.filter(campaign=campaign).order_by("position", "id"):
            by_variant.setdefault(link.variant_id or 0, []).append(link)
        return cls(schema=require_tenant_schema(), base=short_base(), by_variant=by_variant)

    def short_url(self, link: CampaignLink, recipient_id: int) -> str:
        return self.base + link_code(self.schema, link.pk, recipient_id)

    def text(self, text: str, variant_id: int | None, recipient_id: int) -> str:
        links = [link for link in self.by_variant.get(variant_id or 0, []) if link.button_index is None]
        if not links or not text:
            return text
        targets = {link.url: self.short_url(link, recipient_id) for link in links}

        def swap(match: re.Match) -> str:
            raw = match.group(0)
            url = raw.rstrip(TRAILING)
            short = targets.get(url)
            return short + raw[len(url) :] if short else raw

        return URL_RE.sub(swap, text)

    def values(self, variant_id: int | None, recipient_id: int) -> dict[str, str]:
        """The suffix of each tracked URL button (the template's URL ends with our ``/l/``)."""
        return {
            f"{BUTTON_SOURCE}{link.button_index}": link_code(self.schema, link.pk, recipient_id)
            for link in self.by_variant.get(variant_id or 0, [])
            if link.button_index is not None
        }


CLICK_SQL = """
WITH l AS (
    UPDATE campaigns_campaignlink SET click_count = click_count + %(count)s
     WHERE id = %(link)s
 RETURNING id, campaign_id, url
), click AS (
    INSERT INTO campaigns_linkclick (link_id, recipient_id, at, user_agent)
    SELECT l.id, %(recipient)s, now(), %(agent)s FROM l WHERE %(count)s = 1
), first AS (
    UPDATE campaigns_recipient r SET clicked_at = now()
      FROM l
     WHERE %(count)s = 1 AND r.id = %(recipient)s AND r.campaign_id = l.campaign_id AND r.clicked_at IS NULL
 RETURNING r.campaign_id, r.variant_id
), camp AS (
    UPDATE campaigns_campaign c SET clicked_count = c.clicked_count + 1 FROM first WHERE c.id = first.campaign_id
), var AS (
    UPDATE campaigns_campaignvariant v SET clicked_count = v.clicked_count + 1 FROM first WHERE v.id = first.variant_id
)
SELECT url, (SELECT count(*) FROM first), campaign_id FROM l
"""


def link_click(*, code: str, user_agent: str = "", count: bool = True) -> tuple[str, bool] | None:
    """Record a click through ``code`` and return ``(destination, first click of this
    recipient)``; ``None`` for a code that is not a genuine one of this company. A link
    preview fetcher (or ``count=False``: a HEAD request) is redirected but not counted."""
    schema = require_tenant_schema()
    parsed = parse_code(schema, code)
    if parsed is None:
        return None
    link_id, recipient_id = parsed
    agent = (user_agent or "")[:255]
    counted = 1 if count and not any(bot in agent.lower() for bot in PREVIEW_AGENTS) else 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLICK_SQL, {"count": counted, "link": link_id, "recipient": recipient_id, "agent": agent})
        row = cursor.fetchone()
    if row is None:
        return None
    url, first, campaign_id = row
    if first:
        from campaigns.realtime import progress_publish

        progress_publish(campaign_id)  # coalesced with the campaign's other progress events
    return str(url), bool(first)
