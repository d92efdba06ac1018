"""Server time of every page a person uses daily, at the 95th percentile (target < 100 ms).

Runs Django's test Client against the demo company (``bootstrap --demo`` plus its apps' demo
data), enlarged to a busy business: 40 members, 15 pending invitations, 20 API keys, 100,000
contacts and 10,000 conversations (each with its last message; the thread measured has 300).
The rows are written set-based (``INSERT ... SELECT generate_series``), so building them takes
seconds, and only once: later runs find them.
Baseline (``.baseline``): the offline page on the same host, i.e. the cost of the middleware
stack (tenant, session, auth, membership) plus a trivial template, which no page can beat.
Pages are requested in turns (one round visits each page once) and p50 is printed next to
p95: on a shared machine the tail follows the neighbours' load, the median the page's cost.

Adding a page is one line in ``PAGES``: a name, its URL name and, for a detail page, the model
whose first row it shows (``pk="campaigns.Campaign"``). A page whose app is not installed, whose
URL is not routed or whose model has no row yet is skipped (and said so), so an app's line may
land before the app.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from benchmarks.support import percentile, print_host_speed

MEMBERS = 40
INVITATIONS = 15
API_KEYS = 20
CONTACTS = 100_000
CONVERSATIONS = 10_000
THREAD_MESSAGES = 300
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "80"))
WARMUP = 5


@dataclass(frozen=True)
class Page:
    name: str  # BENCH page_<name>_p95
    url_name: str  # in the tenant urlconf
    pk: str | Callable[[], int | None] | None = None  # "app.Model" (its first row) for a detail page
    query: str = ""  # "?q=silva"


PAGES = [
    # the shell and settings
    Page("dashboard", "tenants:dashboard"),
    Page("members", "tenants:members"),
    Page("api_keys", "tenants:api-keys"),
    Page("profile", "tenants:profile"),
    Page("company", "tenants:company-profile"),
    # CRM
    Page("contacts", "crm:contacts"),
    Page("contacts_search", "crm:contacts", query="?q=silva"),
    Page("contacts_tag", "crm:contacts", query="?tag={crm.Tag}"),
    Page("contact_detail", "crm:contact", pk="crm.Contact"),
    Page("imports", "crm:imports"),
    Page("import_detail", "crm:import", pk="crm.ContactImport"),
    Page("audiences", "crm:audiences"),
    Page("segment", "crm:segment", pk="crm.Segment"),
    Page("crm_settings", "crm:settings"),
    # inbox and channels
    Page("inbox", "inbox:inbox"),
    Page("inbox_all", "inbox:inbox", query="?status=any"),
    Page("inbox_thread", "inbox:conversation", pk="inbox.Conversation"),
    Page("channels", "inbox:channels"),
    Page("channel_detail", "inbox:channel", pk="inbox.Channel"),
    # campaigns and message templates: _campaign_pages (the biggest demo campaign, a tracked link)
    # AI personas (the demo persona "Lia" and its help-centre knowledge base)
    Page("ai_personas", "ai_personas:personas"),
    Page("ai_persona", "ai_personas:persona", pk="ai_personas.Persona"),
    Page("ai_knowledge", "ai_personas:knowledge"),
    Page("ai_usage", "ai_personas:usage"),
    Page("ai_settings", "ai_personas:settings"),
    # Kanban (the demo "Vendas" pipeline)
    Page("kanban_board", "kanban:board", pk="kanban.Pipeline"),
    Page("kanban_card", "kanban:card", pk="kanban.Card"),
    Page("kanban_settings", "kanban:settings", pk="kanban.Pipeline"),
    Page("kanban_decisions", "kanban:decisions", pk="kanban.Pipeline"),
    Page("pipelines", "kanban:boards", query="?all=1"),  # one pipeline redirects to its board
    Page("kanban_create_cards", "kanban:cards-create"),
    # cadences (the demo welcome cadence)
    Page("cadences", "cadences:list"),
    Page("cadence_builder", "cadences:builder", pk="cadences.Cadence"),
    Page("cadence_enrolments", "cadences:enrollments", pk="cadences.Cadence"),
]


def _prepare():
    from allauth.account.models import EmailAddress

    from tenants.models import ApiKey, Company, Invitation, Membership, User
    from tenants.roles import Role

    call_command("bootstrap", demo=True, verbosity=0)
    company = Company.objects.get(slug="demo")
    owner = Membership.objects.filter(company=company, role=Role.OWNER).select_related("user").first().user
    have = Membership.objects.filter(company=company).count()
    for i in range(have, MEMBERS):
        email = f"bench-member-{i}@demo.test"
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email=email, password=None, full_name=f"Atendente {i}"
        )
        EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        Membership.objects.get_or_create(user=user, company=company, defaults={"role": Role.AGENT})
    pending = Invitation.objects.filter(company=company, accepted_at=None, revoked_at=None).count()
    Invitation.objects.bulk_create(
        Invitation(
            company=company,
            email=f"bench-invite-{i}@demo.test",
            role=Role.AGENT,
            token_hash=Invitation.hash_token(f"bench-{company.pk}-{i}"),
            invited_by=owner,
            expires_at=timezone.now() + timedelta(days=3650),
        )
        for i in range(pending, INVITATIONS)
    )
    for i in range(ApiKey.objects.filter(company=company).count(), API_KEYS):
        _full, prefix, digest = ApiKey.generate()
        ApiKey.objects.create(company=company, name=f"Integração {i}", prefix=prefix, key_hash=digest, created_by=owner)
    connection.set_tenant(company)
    try:
        _enlarge_crm_and_inbox(owner)
    finally:
        connection.set_schema_to_public()
    return company, owner


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


FIRST_NAMES = ["Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Heitor", "Isabela", "João"]
LAST_NAMES = ["Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa", "Rodrigues", "Almeida", "Nunes"]


def _enlarge_crm_and_inbox(owner) -> None:
    """Contacts and conversations up to the realistic sizes, in a few set-based statements."""
    from crm.models import ContactImport, Tag
    from inbox.models import Channel, Conversation

    tag_ids = list(Tag.objects.order_by("pk").values_list("pk", flat=True)) or [0]
    if not ContactImport.objects.exists():  # the import that brought the contacts in
        ContactImport.objects.create(
            original_name="clientes-2026.csv",
            headers=["Nome", "Telefone", "E-mail"],
            status="done",
            total_rows=CONTACTS,
            processed_rows=CONTACTS,
            created_count=CONTACTS - 12,
            failed_count=12,
        )
    missing = CONTACTS - _count("crm_contact")
    with connection.cursor() as cursor:
        if missing > 0:
            # Phones +55 DDD 9 8xxx-xxxx: apart from the demo's (+55 DDD 9 6000-9999 ...) and unique.
            cursor.execute(
                """
                INSERT INTO crm_contact (name, phone, email, tag_ids, custom_fields, source, consent_status,
                                         consent_source, created_at, updated_at, last_interaction_at)
                SELECT (%(first)s::text[])[1 + i %% 10] || ' ' || (%(last)s::text[])[1 + (i / 10) %% 10]
                           || ' ' || i,
                       '+55' || (11 + i %% 89) || '98' || lpad(i::text, 7, '0'),
                       CASE WHEN i %% 3 = 0 THEN 'cliente' || i || '@exemplo.com.br' ELSE '' END,
                       CASE WHEN i %% 4 = 0 THEN ARRAY[(%(tags)s::bigint[])[1 + i %% %(ntags)s]] ELSE '{}' END,
                       '{}', 'import', CASE WHEN i %% 10 = 0 THEN 'opted_out' ELSE 'opted_in' END, 'bench',
                       now() - i * interval '5 minutes', now() - i * interval '5 minutes',
                       CASE WHEN i %% 2 = 0 THEN now() - i * interval '7 minutes' END
                FROM generate_series(1, %(missing)s) AS i
                ON CONFLICT DO NOTHING
                """,
                {"first": FIRST_NAMES, "last": LAST_NAMES, "tags": tag_ids, "ntags": len(tag_ids), "missing": missing},
            )
        channel = Channel.objects.order_by("pk").first()
        missing = CONVERSATIONS - _count("inbox_conversation")
        if channel is not None and missing > 0:
            # The newest contacts without a conversation get one, with its last (inbound) message.
            cursor.execute(
                """
                INSERT INTO inbox_conversation (contact_id, channel_id, status, assignee_id, unread_count,
                                                last_message_at, last_message_preview, last_inbound_at,
                                                created_at, updated_at)
                SELECT c.id, %(channel)s, CASE WHEN c.rn %% 3 = 0 THEN 'resolved' ELSE 'open' END,
                       CASE WHEN c.rn %% 2 = 0 THEN %(owner)s END, c.rn %% 3,
                       now() - c.rn * interval '2 minutes', 'Olá! Vocês têm o pedido ' || c.id || '?',
                       now() - c.rn * interval '2 minutes', now() - c.rn * interval '2 minutes', now()
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM crm_contact AS k
                      WHERE NOT EXISTS (SELECT 1 FROM inbox_conversation AS v WHERE v.contact_id = k.id)
                      ORDER BY id LIMIT %(missing)s) AS c
                ON CONFLICT DO NOTHING
                """,
                {"channel": channel.pk, "owner": owner.pk, "missing": missing},
            )
            cursor.execute(
                """
                INSERT INTO inbox_message (conversation_id, channel_id, direction, kind, body, payload, media,
                                           media_mime, media_filename, provider_media_id, provider_message_id,
                                           status, error_code, error_title, error_details, created_at)
                SELECT v.id, v.channel_id, 'in', 'text', v.last_message_preview, '{}', '', '', '', '', '',
                       'received', '', '', '', v.last_message_at
                FROM inbox_conversation AS v
                WHERE NOT EXISTS (SELECT 1 FROM inbox_message AS m WHERE m.conversation_id = v.id)
                """
            )
        thread = Conversation.objects.order_by("pk").first()
        if thread is not None:
            have = thread.messages.count()
            cursor.execute(
                """
                INSERT INTO inbox_message (conversation_id, channel_id, direction, kind, body, payload, media,
                                           media_mime, media_filename, provider_media_id, provider_message_id,
                                           status, error_code, error_title, error_details, created_at)
                SELECT %(conversation)s, %(channel)s, CASE WHEN i %% 2 = 0 THEN 'in' ELSE 'out' END, 'text',
                       'Mensagem ' || i || ' da conversa', '{}', '', '', '', '', '',
                       CASE WHEN i %% 2 = 0 THEN 'received' ELSE 'read' END, '', '', '',
                       now() - (%(total)s - i) * interval '3 minutes'
                FROM generate_series(1, %(missing)s) AS i
                """,
                {
                    "conversation": thread.pk,
                    "channel": thread.channel_id,
                    "total": THREAD_MESSAGES,
                    "missing": max(0, THREAD_MESSAGES - have),
                },
            )
        for table in ("crm_contact", "inbox_conversation", "inbox_message"):
            cursor.execute(f"ANALYZE {table}")


def _first_pk(label: str) -> int | None:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return None
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


def _paths(company) -> dict[str, str]:
    """Each page's path in the demo company; pages that cannot be built here are skipped."""
    connection.set_tenant(company)
    paths = {}
    try:
        for page in PAGES:
            kwargs = {}
            if page.pk is not None:
                pk = page.pk() if callable(page.pk) else _first_pk(page.pk)
                if pk is None:
                    print(f"# page {page.name} skipped: no {page.pk} row (or no such model)", flush=True)
                    continue
                kwargs["pk"] = pk
            query = page.query
            if "{" in query:  # "?tag={crm.Tag}": the first row's id
                label = query[query.index("{") + 1 : query.index("}")]
                query = query.replace("{" + label + "}", str(_first_pk(label) or 0))
            try:
                paths[page.name] = reverse(page.url_name, kwargs=kwargs or None, urlconf=settings.ROOT_URLCONF) + query
            except NoReverseMatch:
                print(f"# page {page.name} skipped: {page.url_name} is not routed", flush=True)
    finally:
        connection.set_schema_to_public()
    return paths


def _campaign_pages(company) -> dict[str, str]:
    """The campaign and template pages of the demo company (its demo campaigns and templates),
    and the tracked-link redirect a customer's click opens."""
    if not apps.is_installed("campaigns"):
        return {}
    from django_tenants.utils import schema_context

    from campaigns.links import link_code
    from campaigns.models import Campaign, CampaignLink, MessageTemplate

    with schema_context(company.schema_name):
        pages = {"campaigns": "/campaigns/", "templates": "/templates/", "template_new": "/templates/new/"}
        campaign = Campaign.objects.order_by("-total_count", "-id").first()
        if campaign is not None:
            pages["campaign"] = f"/campaigns/{campaign.pk}/"
            pages["campaign_recipients"] = f"/campaigns/{campaign.pk}/recipients/?state=read"
        template = MessageTemplate.objects.order_by("-id").first()
        if template is not None:
            pages["template"] = f"/templates/{template.pk}/"
        link = CampaignLink.objects.order_by("id").first()
        if link is not None:
            pages["link_redirect"] = "/l/" + link_code(company.schema_name, link.pk, 0)
    return pages


def run(report) -> None:
    # An open connection reused between requests, as production's pool gives each request; the
    # test settings close the connection after every request, which would measure connection
    # setup instead of the page.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60
    connection.settings_dict["CONN_MAX_AGE"] = 60
    company, owner = _prepare()
    client = Client(HTTP_HOST=f"{company.slug}.{settings.BASE_DOMAIN}")
    client.force_login(owner)
    pages = {**_paths(company), **_campaign_pages(company)}
    paths = {"baseline": "/offline/", **pages}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _round in range(WARMUP + REQUESTS):
        # Pages take turns, so a burst of load on a shared machine hits all of them alike.
        for name, path in paths.items():
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == (302 if name == "link_redirect" else 200), (path, response.status_code)
            if _round >= WARMUP:
                samples[name].append(elapsed)
    baseline_p95 = percentile(samples["baseline"], 95)
    baseline_p50 = percentile(samples["baseline"], 50)
    for name in pages:
        report(f"page_{name}_p95", percentile(samples[name], 95), "ms")
        report(f"page_{name}_p95.baseline", baseline_p95, "ms")
        report(f"page_{name}_p50", percentile(samples[name], 50), "ms")
        report(f"page_{name}_p50.baseline", baseline_p50, "ms")
    print_host_speed()
