"""AES-256-GCM field encryption: round trip, tampering, wrong key, company binding, rotation."""

from __future__ import annotations

import base64

import pytest

from tenants import crypto

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
K3 = base64.b64encode(b"3" * 32).decode()


def ring(spec: str) -> crypto.KeyRing:
    return crypto.parse_key_ring(spec)


def test_round_trip_and_random_nonces():
    r = ring(f"k1:{K1}")
    a = crypto.encrypt("EAAG-secret-token", company="c_acme", field="inbox.channel.token", ring=r)
    b = crypto.encrypt("EAAG-secret-token", company="c_acme", field="inbox.channel.token", ring=r)
    assert a != b  # a fresh 96-bit nonce every time
    assert a.startswith("enc1:k1:")
    assert "EAAG" not in a
    assert crypto.decrypt(a, company="c_acme", field="inbox.channel.token", ring=r) == "EAAG-secret-token"


def test_tampered_ciphertext_is_rejected():
    r = ring(f"k1:{K1}")
    token = crypto.encrypt("segredo", company="c_acme", field="f", ring=r)
    prefix, kid, body = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 0x01
    tampered = f"{prefix}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered, company="c_acme", field="f", ring=r)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("enc1:k1:not-base64!!", company="c_acme", field="f", ring=r)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("plain text", company="c_acme", field="f", ring=r)


def test_value_copied_to_another_company_or_field_does_not_decrypt():
    r = ring(f"k1:{K1}")
    token = crypto.encrypt("segredo", company="c_acme", field="inbox.channel.token", ring=r)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, company="c_other", field="inbox.channel.token", ring=r)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, company="c_acme", field="inbox.channel.app_secret", ring=r)


def test_wrong_key_and_unknown_key_id_are_rejected():
    token = crypto.encrypt("segredo", company="c", field="f", ring=ring(f"k1:{K1}"))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, company="c", field="f", ring=ring(f"k1:{K2}"))
    with pytest.raises(crypto.DecryptionError, match="unknown encryption key id"):
        crypto.decrypt(token, company="c", field="f", ring=ring(f"k9:{K3}"))


def test_rotation_keeps_old_values_readable_and_encrypts_with_newest():
    old = crypto.encrypt("segredo", company="c", field="f", ring=ring(f"k1:{K1}"))
    rotated = ring(f"k2:{K2},k1:{K1}")
    assert crypto.decrypt(old, company="c", field="f", ring=rotated) == "segredo"
    new = crypto.encrypt("segredo", company="c", field="f", ring=rotated)
    assert crypto.key_id_of(new) == "k2"


@pytest.mark.parametrize("spec", ["", "k1", f"k1:{base64.b64encode(b'short').decode()}", "a:b:c"])
def test_bad_key_ring_configuration_is_refused(spec):
    with pytest.raises(ValueError):
        crypto.parse_key_ring(spec)
