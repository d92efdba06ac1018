"""Property-based: any uploaded file is either taken (201) or refused with a reason (400),
never a 500, and a refused upload keeps nothing."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import examples

pytestmark = pytest.mark.django_db

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
tables = st.lists(st.lists(cells, min_size=1, max_size=4), min_size=0, max_size=5)
separators = st.sampled_from([";", ",", "\t", "|"])
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16", "utf-16-le", "utf-16-be"])


def _csv(table, separator, encoding) -> bytes:
    text = "\n".join(separator.join(row) for row in table)
    return text.encode(encoding, errors="replace")


contents = st.one_of(
    st.builds(_csv, tables, separators, encodings),
    st.builds(_csv, tables, separators, encodings).map(lambda b: b[: len(b) // 2]),  # cut anywhere
    st.binary(max_size=300),
    st.builds(
        lambda b, n: b.replace(b";", b"\x00", n),
        st.builds(_csv, tables, separators, st.just("utf-8")),
        st.integers(1, 3),
    ),
)
names = st.builds(
    lambda base, ext: base + ext,
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\"), max_size=300),
    st.sampled_from([".csv", ".txt", ".tsv", ".xlsx", ".xls", ".ods", ".pdf", ""]),
)


@examples(40)
@given(contents, names)
def test_any_upload_is_taken_or_refused_with_a_reason(owner_client, acme, settings, tmp_path, data, name):
    from crm.models import ContactImport

    settings.MEDIA_ROOT = str(tmp_path / "media")
    connection.set_tenant(acme)
    before = ContactImport.objects.count()
    connection.set_schema_to_public()
    upload = io.BytesIO(data)
    upload.name = name or "x"
    response = owner_client.post("/api/v1/imports/", {"file": upload})
    assert response.status_code in (201, 400), response.content[:300]
    connection.set_tenant(acme)
    after = ContactImport.objects.count()
    connection.set_schema_to_public()
    if response.status_code == 400:
        assert response.json() and after == before
    else:
        assert after == before + 1
