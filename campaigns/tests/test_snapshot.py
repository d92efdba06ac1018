"""The audience snapshot: one statement, exclusions counted with their reason, and a campaign's
recipients frozen at start."""

from __future__ import annotations

import pytest

from campaigns.dispatch.snapshot import snapshot_take
from campaigns.models import AudienceKind, AudienceRow, AudienceUpload, Recipient, RecipientState
from campaigns.services import campaign_create
from crm.models import ConsentStatus, Contact, ContactList, ContactListMember, Segment


@pytest.fixture
def channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


_counter = iter(range(10**6))


def _contacts(n, **extra):
    return Contact.objects.bulk_create(
        [
            Contact(
                name=f"Ana {i} Souza", phone=f"+551198{next(_counter):07d}", custom_fields={"cidade": "Recife"}, **extra
            )
            for i in range(n)
        ]
    )


def _campaign(channel, **audience):
    return campaign_create(
        name="Snapshot",
        channel=channel,
        variants=[
            {
                "body": "Oi {{1}} de {{2}}",
                "split": 100,
                "variables": {
                    "1": {"source": "contact.first_name"},
                    "2": {"source": "field.cidade", "fallback": "sua cidade"},
                },
            }
        ],
        time_zone="America/Sao_Paulo",
        **audience,
    )


def test_opted_out_invalid_numbers_are_excluded_and_counted(channel):
    contacts = _contacts(6)
    Contact.objects.filter(pk=contacts[0].pk).update(consent_status=ConsentStatus.OPTED_OUT)
    Contact.objects.filter(pk=contacts[1].pk).update(phone="0800")
    contact_list = ContactList.objects.create(name="Todos")
    ContactListMember.objects.bulk_create([ContactListMember(contact_list=contact_list, contact=c) for c in contacts])
    campaign = _campaign(channel, audience_kind=AudienceKind.LISTS, list_ids=[contact_list.pk])
    counts = snapshot_take(campaign)
    assert counts == {"queued": 4, "invalid": 1, "duplicate": 0, "opted_out": 1}
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    assert contacts[0].pk not in {r.contact_id for r in rows}  # never even a row
    skipped = [r for r in rows if r.state == RecipientState.SKIPPED]
    assert [(r.contact_id, r.reason) for r in skipped] == [(contacts[1].pk, "invalid")]
    queued = [r for r in rows if r.state == RecipientState.QUEUED]
    # the first name comes from the row's own name column, copied like the variables
    assert queued[0].variables == {"field.cidade": "Recife"}
    assert queued[0].values["contact.first_name"] == "Ana" and queued[0].name.startswith("Ana")
    assert all(r.next_attempt_at is not None and r.variant_id for r in queued)


def test_later_crm_edits_do_not_change_who_is_reached_or_what_they_get(channel):
    contacts = _contacts(3)
    tag_list = ContactList.objects.create(name="Lista")
    ContactListMember.objects.bulk_create([ContactListMember(contact_list=tag_list, contact=c) for c in contacts])
    campaign = _campaign(channel, audience_kind=AudienceKind.LISTS, list_ids=[tag_list.pk])
    snapshot_take(campaign)
    # after the start: a rename, an opt-out, a new list member
    Contact.objects.filter(pk=contacts[0].pk).update(name="Beatriz")
    Contact.objects.filter(pk=contacts[1].pk).update(consent_status=ConsentStatus.OPTED_OUT)
    extra = _contacts(1)[0]
    Contact.objects.filter(pk=extra.pk).update(phone="+5511977770000")
    ContactListMember.objects.create(contact_list=tag_list, contact=extra)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    assert [r.contact_id for r in rows] == [c.pk for c in contacts]
    assert rows[0].values["contact.first_name"] == "Ana"


def test_segments_and_tags_audiences(channel):
    from crm.services import tags_ensure

    vip = tags_ensure(names=["VIP"])[0]
    contacts = _contacts(4)
    Contact.objects.filter(pk__in=[contacts[0].pk, contacts[1].pk]).update(tag_ids=[vip])
    Contact.objects.filter(pk=contacts[3].pk).update(custom_fields={"cidade": "Natal"})
    by_tag = _campaign(channel, audience_kind=AudienceKind.TAGS, tag_ids=[vip])
    assert snapshot_take(by_tag)["queued"] == 2
    from crm.models import CustomFieldDefinition

    CustomFieldDefinition.objects.get_or_create(key="cidade", defaults={"label": "Cidade"})
    segment = Segment.objects.create(
        name="Natal", filters={"fields": [{"key": "cidade", "op": "eq", "value": "Natal", "type": "text"}]}
    )
    by_segment = _campaign(channel, audience_kind=AudienceKind.SEGMENTS, segment_ids=[segment.pk])
    assert snapshot_take(by_segment)["queued"] == 1
    assert Recipient.objects.get(campaign=by_segment).contact_id == contacts[3].pk


def test_uploaded_audience_skips_duplicates_and_fills_csv_variables(channel):
    contacts = _contacts(3)
    Contact.objects.filter(pk=contacts[2].pk).update(consent_status=ConsentStatus.OPTED_OUT)
    upload = AudienceUpload.objects.create(
        original_name="lista.csv", headers=["telefone", "cupom"], phone_column="telefone"
    )
    AudienceRow.objects.bulk_create(
        [
            AudienceRow(
                upload=upload, row_number=1, phone=contacts[0].phone, contact=contacts[0], values={"cupom": "A10"}
            ),
            AudienceRow(
                upload=upload, row_number=2, phone=contacts[1].phone, contact=contacts[1], values={"cupom": "B20"}
            ),
            AudienceRow(
                upload=upload, row_number=3, phone=contacts[0].phone, contact=contacts[0], values={"cupom": "C30"}
            ),
            AudienceRow(upload=upload, row_number=4, phone="", contact=None, values={"cupom": "D40"}),
            AudienceRow(
                upload=upload, row_number=5, phone=contacts[2].phone, contact=contacts[2], values={"cupom": "E50"}
            ),
        ]
    )
    campaign = campaign_create(
        name="Upload",
        channel=channel,
        variants=[{"body": "Seu cupom: {{1}}", "split": 100, "variables": {"1": {"source": "csv.cupom"}}}],
        audience_kind=AudienceKind.UPLOAD,
        upload=upload,
        time_zone="America/Sao_Paulo",
    )
    assert snapshot_take(campaign) == {"queued": 2, "invalid": 1, "duplicate": 1, "opted_out": 1}
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    assert [(r.state, r.reason, r.variables.get("csv.cupom")) for r in rows] == [
        ("queued", "", "A10"),
        ("queued", "", "B20"),
        ("skipped", "duplicate", "C30"),
        ("skipped", "invalid", "D40"),
    ]


def test_estimate_counts_after_exclusions_prices_by_country_and_warns_about_the_tier(channel):
    from decimal import Decimal

    from campaigns.pricing.models import MessagePrice
    from campaigns.services import campaign_estimate
    from inbox.models import SendingLimit
    from inbox.services import channel_create

    cloud = channel_create(
        kind="whatsapp_cloud",
        name="Cloud",
        config={"phone_number_id": "1065551234", "waba_id": "1", "display_phone": "+55 11 3000-0000"},
        credentials={"access_token": "t", "app_secret": "s"},
    )
    SendingLimit.objects.create(channel=cloud, throughput_mps=80, tier="TIER_250")
    MessagePrice.objects.create(kind="whatsapp", category="MARKETING", country="BR", price=Decimal("0.35"))
    MessagePrice.objects.create(kind="whatsapp", category="MARKETING", country="*", price=Decimal("0.50"))
    from campaigns.models import MessageTemplate

    template = MessageTemplate.objects.create(
        origin="meta", waba_id="1", name="promo_estimate", status="APPROVED", category="MARKETING"
    )
    contacts = _contacts(300)
    Contact.objects.filter(pk=contacts[0].pk).update(consent_status=ConsentStatus.OPTED_OUT)
    campaign = campaign_create(
        name="Estimate",
        channel=cloud,
        variants=[{"template": template, "split": 100}],
        audience_kind=AudienceKind.ALL,
        time_zone="America/Sao_Paulo",
    )
    estimate = campaign_estimate(campaign=campaign)
    reachable = Contact.objects.exclude(consent_status=ConsentStatus.OPTED_OUT).count()
    assert estimate["recipients"] == reachable and estimate["excluded"]["opted_out"] >= 1
    assert estimate["price"] == Decimal("0.35000")
    assert estimate["estimated_cost"] == (Decimal("0.35") * reachable).quantize(Decimal("0.01"))
    assert estimate["tier_users"] == 250 and estimate["exceeds_tier"] is True


def test_the_snapshot_s_phone_check_is_the_e164_pattern(tenant):
    """The snapshot checks numbers without the regular expression engine; it must say exactly
    what the E.164 pattern says."""
    import re

    from django.db import connection

    from campaigns.dispatch.snapshot import E164, E164_SQL

    samples = [
        "+5511987654321", "+12025550123", "+551198765", "+55119876", "+5511987", "+123456789012345",
        "+1234567890123456", "+0511987654321", "5511987654321", "+55 11 98765-4321", "+55119876543a1",
        "++5511987654321", "+", "", "0800", "+٥٥١١٩٨٧٦٥٤٣٢١", "+５５１１９８７６５４３２１", "+5511987654321\n",
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p, COALESCE({E164_SQL.format(phone='p')}, FALSE) FROM unnest(%s::text[]) AS t(p)", [samples]
        )
        answers = dict(cursor.fetchall())
    assert answers == {p: re.fullmatch(E164[1:-1], p) is not None for p in samples}
    assert sum(answers.values()) == 5
