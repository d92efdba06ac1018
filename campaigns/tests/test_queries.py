"""No N+1: the lists of the campaign and template pages and API cost the same number of queries
with twice the rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignVariant, MessageTemplate, Recipient, TemplateStatus


@pytest.fixture
def admin_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@queries.test"))


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(ctx.captured_queries)


def _grow(channel, start, count):
    for i in range(start, start + count):
        MessageTemplate.objects.create(name=f"tpl_{i}", status=TemplateStatus.APPROVED, channel=channel)
        campaign = Campaign.objects.create(name=f"Campanha {i}", channel=channel, total_count=10, queued_count=5)
        variant = CampaignVariant.objects.create(campaign=campaign, key="A", body="Oi")
        Recipient.objects.bulk_create(
            Recipient(
                campaign=campaign, variant=variant, phone=f"+55119{i:04d}{j:04d}", state="failed", error_code="131026"
            )
            for j in range(6)
        )


@pytest.mark.parametrize(
    "path",
    [
        "/templates/",
        "/campaigns/",
        "/api/v1/campaigns/",
        "/api/v1/campaigns/templates/",
    ],
)
def test_lists_do_not_grow_with_their_rows(admin_client, sandbox_channel, path):
    _grow(sandbox_channel, 0, 3)
    few = _queries(admin_client, path)
    _grow(sandbox_channel, 3, 6)
    many = _queries(admin_client, path)
    assert many == few, (path, few, many)


def test_recipient_table_and_api_do_not_grow(admin_client, sandbox_channel):
    _grow(sandbox_channel, 0, 1)
    campaign = Campaign.objects.get()
    pages = (f"/campaigns/{campaign.pk}/recipients/", f"/api/v1/campaigns/{campaign.pk}/recipients/")
    few = [_queries(admin_client, p) for p in pages]
    variant = campaign.variants.get()
    Recipient.objects.bulk_create(
        Recipient(campaign=campaign, variant=variant, phone=f"+5511977{j:05d}", state="failed", error_code="131050")
        for j in range(30)
    )
    assert [_queries(admin_client, p) for p in pages] == few
