"""Model fields for sensitive values, encrypted at rest (see ``tenants.crypto``)."""

from __future__ import annotations

from django.db import models

from tenants import crypto


class EncryptedTextField(models.TextField):
    """A text value stored AES-256-GCM encrypted.

    The company bound into the ciphertext is the schema of the connection that reads or
    writes the row, so a value copied into another company's schema does not decrypt.
    Lookups other than ``isnull`` are meaningless on ciphertext and not supported.
    """

    description = "Encrypted text"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def _aad_field(self) -> str:
        return f"{self.model._meta.label_lower}.{self.attname}"

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value), company=connection.schema_name, field=self._aad_field())

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value, company=connection.schema_name, field=self._aad_field())

    def get_lookup(self, lookup_name):
        if lookup_name not in {"isnull"}:
            return None
        return super().get_lookup(lookup_name)
