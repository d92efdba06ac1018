"""Bad query parameters on the contact list (API and page): a 4xx with a translated message,
never a 500, and nothing changed."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import connection

from crm.listing import ERR_CURSOR
from crm.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.fixture
def contacts(tenant):
    made = [ContactFactory(name=f"Maria {i}") for i in range(3)]
    connection.set_schema_to_public()
    return made


TAMPERED = [
    ("-last_interaction", ["not a date", 1]),  # the case
    ("-last_interaction", [{"a": 1}, 1]),  # an object
    ("-last_interaction", [[], 1]),
    ("name", [{"a": 1}, 1]),
    ("name", [12, 1]),
    ("name", ["a\u0000b", 1]),
    ("name", ["\ud800", 1]),
    ("name", [None, 1]),  # name is not nullable
    ("-id", [None, 2**70]),  # past bigint
    ("-id", [None, "1"]),
    ("-id", [None, True]),
    ("-id", [None]),
    ("-id", {"a": 1}),
]


@pytest.mark.parametrize(("sort", "values"), TAMPERED, ids=[f"{s}-{i}" for i, (s, _v) in enumerate(TAMPERED)])
@pytest.mark.parametrize("key", ["after", "before"])
def test_tampered_cursor_is_a_400_on_the_api(owner_client, contacts, sort, values, key):
    response = owner_client.get("/api/v1/contacts/", {"sort": sort, key: _cursor(values)})
    assert response.status_code == 400
    assert response.json() == {key: [str(ERR_CURSOR)]}


@pytest.mark.parametrize("raw", ["%%%", "bm90IGpzb24", _cursor("x" * 10), "W1tbW1tbW1tbW1tbW1tbW1tbW1s"])
def test_cursor_that_is_not_ours_at_all_is_a_400(owner_client, contacts, raw):
    assert owner_client.get("/api/v1/contacts/", {"after": raw}).status_code == 400


@pytest.mark.parametrize(("sort", "values"), TAMPERED[:3])
def test_tampered_cursor_on_the_page_shows_the_first_page_with_the_reason(owner_client, contacts, sort, values):
    response = owner_client.get("/contacts/", {"sort": sort, "after": _cursor(values)})
    assert response.status_code == 400
    assert str(ERR_CURSOR) in response.content.decode()
    assert len(response.context["page"].items) == 3


@pytest.mark.parametrize("sort", ["-last_interaction", "name", "-id"])
def test_cursors_we_wrote_still_page(owner_client, tenant, sort):
    from django.utils import timezone

    for i in range(12):
        ContactFactory(name=f"Ana {i:02}", last_interaction_at=timezone.now() if i % 2 else None)
    connection.set_schema_to_public()
    seen, url = [], f"/api/v1/contacts/?sort={sort}&size=10"
    while url:
        body = owner_client.get(url).json()
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 12


def test_messages_are_in_the_company_language(owner_client, contacts):
    owner_client.cookies["django_language"] = "pt-br"
    bad_sort = owner_client.get("/api/v1/contacts/", {"sort": "nope"}).json()
    assert bad_sort == {"sort": ["Use um destes: -id, id, name, -name, -last_interaction."]}
    bad_cursor = owner_client.get("/api/v1/contacts/", {"after": _cursor([None, 2**70])}).json()
    assert bad_cursor["after"][0].startswith("Este link de página não é válido")


@pytest.mark.parametrize("url", ["/api/v1/contacts/", "/contacts/", "/contacts/count/"])
def test_nul_byte_in_the_search_is_a_400(owner_client, contacts, url):
    from core.middleware import ERR_NUL

    response = owner_client.get(url, {"q": "Mar\x00ia"})
    assert response.status_code == 400
    text = response.json()["detail"] if url.startswith("/api/") else response.content.decode()
    assert str(ERR_NUL) in text


# --- import uploads -------------------------------------------------------------------------------

UTF16_TEXT = "Nome;Telefone\nJoão;(11) 98765-4321\n"


@pytest.fixture
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _file(name: str, data: bytes):
    import io

    upload = io.BytesIO(data)
    upload.name = name
    return upload


REFUSED_UPLOADS = {
    "nul-bytes": ("contatos.csv", b"Nome;Telefone\nAna\x00;11987654321\n"),
    "nul-in-the-header": ("contatos.csv", b"No\x00me;Telefone\nAna;11987654321\n"),
    "binary": ("foto.csv", bytes(range(256)) * 64),
    "binary-named-xlsx": ("planilha.xlsx", bytes(range(256)) * 64),
    "unclosed-quote": ("contatos.csv", b'Nome;Telefone\n"Ana;' + b"x" * 200_000 + b"\n"),
}


@pytest.mark.parametrize("case", REFUSED_UPLOADS)
def test_upload_that_is_not_a_text_spreadsheet_is_a_400_on_the_api(owner_client, acme, uploads, case):
    from crm.models import ContactImport

    name, data = REFUSED_UPLOADS[case]
    response = owner_client.post("/api/v1/imports/", {"file": _file(name, data)})
    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    connection.set_tenant(acme)
    assert not ContactImport.objects.exists()
    assert not any(p.is_file() for p in uploads.rglob("*"))  # nothing kept


@pytest.mark.parametrize("case", ["nul-bytes", "binary"])
def test_upload_that_is_not_a_text_spreadsheet_is_a_400_on_the_page(owner_client, acme, uploads, case):
    from crm.importing import ERR_FILE_BINARY
    from crm.models import ContactImport

    name, data = REFUSED_UPLOADS[case]
    response = owner_client.post("/imports/", {"file": _file(name, data)})
    assert response.status_code == 400
    assert str(ERR_FILE_BINARY) in response.content.decode()
    connection.set_tenant(acme)
    assert not ContactImport.objects.exists()


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_read_as_utf16(owner_client, acme, uploads, encoding):
    response = owner_client.post("/api/v1/imports/", {"file": _file("contatos.csv", UTF16_TEXT.encode(encoding))})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["headers"] == ["Nome", "Telefone"] and body["encoding"] == encoding
    page = owner_client.post("/imports/", {"file": _file("contatos.csv", UTF16_TEXT.encode(encoding))})
    assert page.status_code == 302


def test_utf16_without_a_bom_imports_its_rows(tenant, tmp_path):
    from crm.importing import inspect_file, iter_rows

    path = tmp_path / "c.csv"
    path.write_bytes(UTF16_TEXT.encode("utf-16-le"))
    inspection = inspect_file(str(path), "c.csv")
    rows = list(iter_rows(str(path), "csv", inspection.encoding, inspection.delimiter))
    assert rows == [["Nome", "Telefone"], ["João", "(11) 98765-4321"]]


def test_upload_with_a_very_long_name_is_kept_under_a_shorter_one(owner_client, acme, uploads):
    name = "contatos-" + "x" * 400 + ".csv"
    response = owner_client.post("/api/v1/imports/", {"file": _file(name, b"Nome;Telefone\nAna;11987654321\n")})
    assert response.status_code == 201, response.content
    assert response.json()["original_name"].endswith(".csv")


@pytest.mark.parametrize(
    "params",
    [{"notag": str(2**70)}, {"tag": "-71340318872337476457388604129280"}, {"owner": str(2**64)}, {"list": str(2**63)}],
)
def test_ids_past_bigint_in_the_filters_are_a_400(owner_client, contacts, params):
    """Found by schemathesis: ``tag_ids && ARRAY[...]`` failed with 'bigint out of range'."""
    assert owner_client.get("/api/v1/contacts/", params).status_code == 400
    assert owner_client.get("/contacts/", params).status_code == 400


def test_deleting_a_contact_with_conversations_is_a_400_and_deletes_nothing(owner_client, acme, tenant):
    """Found by schemathesis: the trash's DELETE met the inbox's foreign key (a 500)."""
    from crm.bulk_actions import ERR_DELETE_IN_USE
    from crm.models import BulkOperation, Contact
    from inbox.models import Conversation
    from inbox.services import channel_create

    contact = ContactFactory(name="Com conversa")
    Conversation.objects.create(channel=channel_create(kind="sandbox", name="S"), contact=contact)
    connection.set_schema_to_public()
    response = owner_client.delete(f"/api/v1/contacts/{contact.pk}/")
    assert response.status_code == 400 and response.json() == {"contacts": [str(ERR_DELETE_IN_USE)]}
    page = owner_client.post(f"/contacts/{contact.pk}/delete/", follow=True)
    assert str(ERR_DELETE_IN_USE) in page.content.decode()
    connection.set_tenant(acme)
    assert Contact.objects.filter(pk=contact.pk).exists() and not BulkOperation.objects.exists()
