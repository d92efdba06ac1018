"""EncryptedTextField on a real model (a channel's credentials): stored encrypted, bound to its
company, re-encrypted under the newest key by ``reencrypt_fields``."""

from __future__ import annotations

import base64
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context

from tenants import crypto

NEW_KEY = "k3:" + base64.b64encode(b"3" * 32).decode()


def _raw(schema: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT access_token FROM "{schema}".inbox_channel WHERE id = %s', [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def channels(acme, other_company):
    from inbox.models import Channel

    with schema_context("c_acme"):
        mine = Channel.objects.create(kind="whatsapp_cloud", name="Vendas", access_token="EAAG-acme-token")
    with schema_context("c_other"):
        theirs = Channel.objects.create(kind="whatsapp_cloud", name="Loja", access_token="EAAG-other-token")
    return mine, theirs


def test_value_is_encrypted_at_rest_and_read_back(channels):
    from inbox.models import Channel

    mine, _ = channels
    raw = _raw("c_acme", mine.pk)
    assert raw.startswith("enc1:k2:")
    assert "EAAG" not in raw
    with schema_context("c_acme"):
        assert Channel.objects.get(pk=mine.pk).access_token == "EAAG-acme-token"


def test_ciphertext_copied_into_another_company_does_not_decrypt(channels):
    from inbox.models import Channel

    mine, theirs = channels
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE "c_other".inbox_channel SET access_token = %s WHERE id = %s', [_raw("c_acme", mine.pk), theirs.pk]
        )
    with schema_context("c_other"), pytest.raises(crypto.DecryptionError):
        Channel.objects.get(pk=theirs.pk)


def test_rotation_command_reencrypts_under_newest_key(channels, settings):
    from inbox.models import Channel

    mine, theirs = channels
    with override_settings(FIELD_ENCRYPTION_KEYS=f"{NEW_KEY},{settings.FIELD_ENCRYPTION_KEYS}"):
        out = StringIO()
        call_command("reencrypt_fields", schema="c_acme", stdout=out)
        assert "c_acme: 1 values re-encrypted" in out.getvalue()
        assert _raw("c_acme", mine.pk).startswith("enc1:k3:")
        assert _raw("c_other", theirs.pk).startswith("enc1:k2:")  # only the schema asked for
        with schema_context("c_acme"):
            assert Channel.objects.get(pk=mine.pk).access_token == "EAAG-acme-token"
        # running again changes nothing
        out = StringIO()
        call_command("reencrypt_fields", schema="c_acme", stdout=out)
        assert "done: 0 values" in out.getvalue()
