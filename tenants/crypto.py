"""AES-256-GCM encryption of field values with a rotating key ring.

Ciphertext format (text, safe for a ``TextField``)::

    enc1:<key id>:<base64url(nonce[12] || ciphertext || tag[16])>

The associated data binds a value to its company (schema) and field, so a ciphertext copied
into another company's row, or into another field, fails to decrypt.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "enc1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """The value was tampered with, belongs elsewhere, or its key is not in the key ring."""


@dataclass(frozen=True)
class KeyRing:
    primary_id: str
    keys: dict[str, bytes]


def parse_key_ring(spec: str) -> KeyRing:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        kid, _, encoded = entry.partition(":")
        if not kid or not encoded or ":" in kid:
            raise ValueError("FIELD_ENCRYPTION_KEYS entries look like 'kid:base64key'")
        key = base64.b64decode(encoded)
        if len(key) != 32:
            raise ValueError(f"encryption key {kid!r} must be 32 bytes (AES-256)")
        keys[kid] = key
        order.append(kid)
    if not order:
        raise ValueError("FIELD_ENCRYPTION_KEYS holds no key")
    return KeyRing(primary_id=order[0], keys=keys)


@lru_cache(maxsize=4)
def _ring_for(spec: str) -> KeyRing:
    return parse_key_ring(spec)


def key_ring() -> KeyRing:
    return _ring_for(settings.FIELD_ENCRYPTION_KEYS)


def associated_data(company: str, field: str) -> bytes:
    return f"{company}\x1f{field}".encode()


def encrypt(plaintext: str, *, company: str, field: str, ring: KeyRing | None = None) -> str:
    ring = ring or key_ring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.primary_id]).encrypt(nonce, plaintext.encode(), associated_data(company, field))
    return f"{PREFIX}:{ring.primary_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def key_id_of(token: str) -> str | None:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return parts[1]


def decrypt(token: str, *, company: str, field: str, ring: KeyRing | None = None) -> str:
    ring = ring or key_ring()
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("not an encrypted value")
    kid, body = parts[1], parts[2]
    key = ring.keys.get(kid)
    if key is None:
        raise DecryptionError(f"unknown encryption key id {kid!r}")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
    except (ValueError, TypeError) as exc:
        raise DecryptionError("malformed ciphertext") from exc
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("malformed ciphertext")
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(company, field))
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not authenticate") from exc
    return plain.decode()
