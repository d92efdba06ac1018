"""Server time of the workspace's main pages at the 95th percentile (target < 100 ms).

Runs Django's test Client against the demo company (``bootstrap --demo`` plus its apps' demo
data), enlarged to look like a busy small business: 40 members, 15 pending invitations,
20 API keys and, when the CRM exists, 30,000 contacts (the dashboard counts them).
Baseline (``.baseline``): the offline page on the same host, i.e. the cost of the middleware
stack (tenant, session, auth, membership) plus a trivial template, which no page can beat.
Pages are requested in turns (one round visits each page once) and p50 is printed next to
p95: on a shared machine the tail follows the neighbours' load, the median the page's cost.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from benchmarks.support import percentile

MEMBERS = 40
INVITATIONS = 15
API_KEYS = 20
CONTACTS = 30_000
REQUESTS = 80
WARMUP = 5

PAGES = {
    "dashboard": "/",
    "members": "/settings/members/",
    "api_keys": "/settings/api-keys/",
    "profile": "/settings/profile/",
    "company": "/settings/company/",
    # AI personas (the demo persona "Lia" and its help-centre knowledge base)
    "ai_personas": "/ai/personas/",
    "ai_knowledge": "/ai/knowledge/",
    "ai_usage": "/ai/usage/",
    "ai_settings": "/settings/ai/",
}


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
    if apps.is_installed("crm"):
        try:
            contact_model = apps.get_model("crm", "Contact")
        except LookupError:
            contact_model = None
        if contact_model is not None:
            connection.set_tenant(company)
            missing = CONTACTS - contact_model.objects.count()
            batch = []
            for i in range(max(0, missing)):
                batch.append(contact_model(name=f"Cliente {i}", phone=f"+55119{70000000 + i:08d}"))
                if len(batch) == 2000:
                    contact_model.objects.bulk_create(batch, ignore_conflicts=True)
                    batch = []
            if batch:
                contact_model.objects.bulk_create(batch, ignore_conflicts=True)
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {contact_model._meta.db_table}")
            connection.set_schema_to_public()
    return company, owner


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
    pages = {**PAGES, **_campaign_pages(company)}
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
