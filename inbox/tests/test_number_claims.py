"""A company cannot squat another's WhatsApp number (audit L5): a Cloud API channel's
phone_number_id is claimed for the company only once Meta confirms, with that channel's own
token, that the number belongs to it. An unconfirmed claim blocks nobody."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from inbox.services import ERR_NUMBER_IN_USE, channel_check_token, channel_create
from tenants.models import WebhookRoute

NUMBER = "1065550777"


def _cloud(token: str, name: str = "Atendimento"):
    return channel_create(
        kind="whatsapp_cloud",
        name=name,
        config={"phone_number_id": NUMBER, "waba_id": "2025550001"},
        credentials={"access_token": token, "app_secret": "s", "verify_token": "v"},
    )


def test_a_squatter_cannot_block_the_real_owner(acme, other_company, graph):
    # the squatter connects someone else's number id; Meta does not know its token for it
    connection.set_tenant(other_company)
    squatter = _cloud("EAAG-squatter-token")
    channel_check_token(channel=squatter)
    assert WebhookRoute.objects.get(channel_public_id=squatter.public_id).verified_at is None
    # the owner connects the same number: allowed, and Meta confirms it with the owner's token
    connection.set_tenant(acme)
    owner = _cloud(graph.token)
    channel_check_token(channel=owner)
    route = WebhookRoute.objects.get(channel_public_id=owner.public_id)
    assert route.verified_at is not None and route.company == acme


def test_a_confirmed_number_cannot_be_connected_again(acme, other_company, graph):
    connection.set_tenant(acme)
    channel_check_token(channel=_cloud(graph.token))
    connection.set_tenant(other_company)
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        _cloud("EAAG-someone-else")
    assert exc.value.message_dict["phone_number_id"] == [ERR_NUMBER_IN_USE]


def test_other_kinds_route_by_their_own_id_at_once(acme, tenant):
    sandbox = channel_create(kind="sandbox", name="Sandbox")
    assert WebhookRoute.objects.get(channel_public_id=sandbox.public_id).verified_at is not None
