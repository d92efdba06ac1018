"""Import: detection, mapping, normalization, upsert policies, failed rows file."""

import csv
import io

import pytest
from django.core.files.base import ContentFile
from django.http import QueryDict
from openpyxl import Workbook

from crm.importing import (
    ERR_MAPPING_PHONE,
    ERR_MAPPING_TWICE,
    ImportFileError,
    detect_delimiter,
    guess_mapping,
    inspect_file,
    mapping_clean,
    run_import,
)
from crm.models import ConsentStatus, Contact, ContactImport, ContactListMember, CustomFieldDefinition, FieldType, Tag
from crm.services import contact_import_create
from crm.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db

MESSY = (
    "Nome;Telefone;E-mail;Etiquetas;Cidade\r\n"
    "João Conceição;(11) 98765-4321;joao@exemplo.com.br;VIP, Lead;São Paulo\r\n"
    "Maria Araújo;+55 21 8765-4321;;;Rio\r\n"  # mobile without the ninth digit
    "Zé;011 3456-7890;ze@exemplo.com;;\r\n"  # landline with trunk 0
    "Duplicado;11987654321;dup@exemplo.com;;\r\n"  # same phone as line 2
    "Sem telefone;;x@y.com;;\r\n"
    "Errado;12345;;;\r\n"
    ";;;;\r\n"  # blank line
    "Email ruim;(31) 99999-1111;nao-e-email;;\r\n"
)


def write(tmp_path, name, content: str, encoding: str):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return str(path)


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")])
def test_inspection_detects_encoding_and_separator(tmp_path, encoding, expected):
    path = write(tmp_path, "c.csv", MESSY, encoding)
    inspection = inspect_file(path, "c.csv")
    assert inspection.encoding == expected
    assert inspection.delimiter == ";"
    assert inspection.headers == ["Nome", "Telefone", "E-mail", "Etiquetas", "Cidade"]
    assert inspection.preview[0][0] == "João Conceição"
    assert inspection.total_rows == 8


def test_separator_detection():
    assert detect_delimiter(["a,b,c", "1,2,3"]) == ","
    assert detect_delimiter(["a\tb", "1\t2,5"]) == "\t"
    # decimal commas inside ;-separated values do not fool it
    assert detect_delimiter(["nome;valor;cidade", "Ana;1,5;SP", "Bia;2,75;RJ"]) == ";"


def test_inspection_rejects_bad_files(tmp_path):
    with pytest.raises(ImportFileError):
        inspect_file(write(tmp_path, "e.csv", "", "utf-8"), "e.csv")
    with pytest.raises(ImportFileError):
        inspect_file(write(tmp_path, "x.pdf", "%PDF", "utf-8"), "x.pdf")
    with pytest.raises(ImportFileError):
        inspect_file(write(tmp_path, "bad.xlsx", "not a zip", "utf-8"), "bad.xlsx")


def test_mapping_guess_and_validation(tenant):
    CustomFieldDefinition.objects.create(key="cidade", label="Cidade", field_type=FieldType.TEXT)
    definitions = list(CustomFieldDefinition.objects.all())
    headers = ["Nome", "Celular", "E-mail", "Etiquetas", "Cidade", "Obs"]
    assert guess_mapping(headers, definitions) == {
        "0": "name",
        "1": "phone",
        "2": "email",
        "3": "tags",
        "4": "cf:cidade",
    }
    with pytest.raises(ImportFileError) as missing:
        mapping_clean({"0": "name"}, headers, definitions)
    assert missing.value.message == ERR_MAPPING_PHONE
    with pytest.raises(ImportFileError) as twice:
        mapping_clean({"0": "phone", "1": "phone"}, headers, definitions)
    assert str(twice.value) in {str(ERR_MAPPING_TWICE % {"field": label}) for label in ("Phone", "Telefone")}


def _import(tmp_path, content, encoding="cp1252", name="contatos.csv", **options):
    path = write(tmp_path, name, content, encoding)
    inspection = inspect_file(path, name)
    contact_import = contact_import_create(stored_name="", original_name=name, inspection=inspection)
    contact_import.file.save(name, ContentFile(open(path, "rb").read()), save=False)
    for key, value in options.items():
        setattr(contact_import, key, value)
    contact_import.status = "queued"
    contact_import.save()
    return run_import(contact_import, chunk_rows=3)


def test_messy_file_imports_valid_rows_and_reports_every_failure(tenant, tmp_path):
    CustomFieldDefinition.objects.create(key="cidade", label="Cidade", field_type=FieldType.TEXT)
    result = _import(tmp_path, MESSY)
    assert (result.created_count, result.updated_count, result.skipped_count, result.failed_count) == (3, 0, 0, 4)
    assert result.status == "done"
    assert result.total_rows == 7  # the blank line is not a row
    phones = set(Contact.objects.values_list("phone", flat=True))
    assert phones == {"+5511987654321", "+5521987654321", "+551134567890"}
    joao = Contact.objects.get(phone="+5511987654321")
    assert joao.name == "João Conceição"
    assert joao.custom_fields == {"cidade": "São Paulo"}
    assert sorted(Tag.objects.filter(pk__in=joao.tag_ids).values_list("name", flat=True)) == ["Lead", "VIP"]
    assert joao.import_id == result.pk
    # failed rows: the row as it was, its line and the reason
    rows = list(csv.reader(io.StringIO(result.failed_file.open("rb").read().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] and rows[0][-1]
    by_line = {r[0]: r for r in rows[1:]}
    assert set(by_line) == {"5", "6", "7", "9"}
    assert "2" in by_line["5"][-1]  # duplicate of line 2
    assert by_line["6"][1] == "Sem telefone"
    assert by_line["7"][2] == "12345"
    assert "nao-e-email" in by_line["9"][-1]


def test_update_existing_keeps_opt_out_and_merges(tenant, tmp_path):
    ContactFactory(
        phone="+5511987654321",
        name="Antigo",
        email="old@x.com",
        consent_status=ConsentStatus.OPTED_OUT,
        custom_fields={"a": 1},
    )
    content = "Nome;Telefone;Consentimento\r\nNovo Nome;(11) 98765-4321;sim\r\nOutro;(11) 91234-5678;sim\r\n"
    result = _import(tmp_path, content)
    assert (result.created_count, result.updated_count, result.failed_count) == (1, 1, 0)
    contact = Contact.objects.get(phone="+5511987654321")
    assert contact.name == "Novo Nome"
    assert contact.email == "old@x.com"  # empty cells do not erase
    assert contact.consent_status == ConsentStatus.OPTED_OUT  # an import never overrides an opt-out
    assert Contact.objects.get(phone="+5511912345678").consent_status == ConsentStatus.OPTED_IN
    # importing the same file again changes nothing: reported as skipped
    again = _import(tmp_path, content)
    assert (again.created_count, again.updated_count, again.skipped_count) == (0, 0, 2)


def test_skip_existing_and_apply_tags_and_list(tenant, tmp_path):
    ContactFactory(phone="+5511987654321", name="Fica")
    lst = ContactListFactory(name="Evento")
    tag_id = Tag.objects.create(name="Feira").pk
    content = "nome,telefone\nTroca,11987654321\nNova,21987654321\n"
    result = _import(tmp_path, content, encoding="utf-8", existing="skip", tag_ids=[tag_id], contact_list=lst)
    assert (result.created_count, result.updated_count, result.skipped_count) == (1, 0, 1)
    assert Contact.objects.get(phone="+5511987654321").name == "Fica"
    new = Contact.objects.get(phone="+5521987654321")
    assert new.tag_ids == [tag_id]
    assert ContactListMember.objects.filter(contact_list=lst).count() == 2


def test_custom_field_values_are_validated(tenant, tmp_path):
    CustomFieldDefinition.objects.create(key="valor", label="Valor", field_type=FieldType.NUMBER)
    CustomFieldDefinition.objects.create(key="nasc", label="Nascimento", field_type=FieldType.DATE)
    content = "Telefone;Valor;Nascimento\r\n11987654321;1.234,50;31/01/1990\r\n21987654321;muito;\r\n"
    result = _import(tmp_path, content, mapping={"0": "phone", "1": "cf:valor", "2": "cf:nasc"})
    assert (result.created_count, result.failed_count) == (1, 1)
    assert Contact.objects.get().custom_fields == {"valor": 1234.5, "nasc": "1990-01-31"}


def test_xlsx_with_numeric_phones(tenant, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Nome", "WhatsApp"])
    sheet.append(["Ana", 5511987654321])
    sheet.append(["Bia", "(21) 98765-4321"])
    path = tmp_path / "c.xlsx"
    workbook.save(path)
    inspection = inspect_file(str(path), "c.xlsx")
    assert inspection.headers == ["Nome", "WhatsApp"]
    assert inspection.preview[0] == ["Ana", "5511987654321"]
    contact_import = contact_import_create(stored_name="", original_name="c.xlsx", inspection=inspection)
    contact_import.file.save("c.xlsx", ContentFile(path.read_bytes()), save=False)
    contact_import.status = "queued"
    contact_import.save()
    result = run_import(contact_import)
    assert result.created_count == 2


def test_mapping_is_remembered_for_the_same_columns(tenant, tmp_path):
    path = write(tmp_path, "a.csv", "Col A;Col B\r\nAna;11987654321\r\n", "utf-8")
    first = contact_import_create(stored_name="", original_name="a.csv", inspection=inspect_file(path, "a.csv"))
    assert first.mapping == {}
    ContactImport.objects.filter(pk=first.pk).update(mapping={"0": "name", "1": "phone"}, status="done")
    second = contact_import_create(stored_name="", original_name="b.csv", inspection=inspect_file(path, "b.csv"))
    assert second.mapping == {"0": "name", "1": "phone"}


def test_import_pages_flow(owner_client, acme, tmp_path):
    from django.db import connection

    upload = io.BytesIO(MESSY.encode("cp1252"))
    upload.name = "planilha.csv"
    response = owner_client.post("/imports/", {"file": upload})
    assert response.status_code == 302
    mapping_page = owner_client.get(response.url)
    assert b"Windows-1252" in mapping_page.content
    start = owner_client.post(
        response.url,
        {
            "col_0": "name",
            "col_1": "phone",
            "col_2": "email",
            "col_3": "tags",
            "col_4": "",
            "existing": "update",
            "tags": "Planilha",
        },
    )
    assert start.status_code == 302
    connection.set_tenant(acme)
    contact_import = ContactImport.objects.get()
    assert contact_import.status == "queued"
    run_import(contact_import)
    connection.set_schema_to_public()
    progress = owner_client.get(f"/imports/{contact_import.pk}/progress/")
    assert b'data-status="done"' in progress.content
    failed = owner_client.get(f"/imports/{contact_import.pk}/failed/")
    assert failed.status_code == 200
    assert "Duplicado" in b"".join(failed.streaming_content).decode("utf-8-sig")
    # a page without a phone column mapped is refused
    upload = io.BytesIO(MESSY.encode("cp1252"))
    upload.name = "outra.csv"
    second = owner_client.post("/imports/", {"file": upload})
    refused = owner_client.post(second.url, {"col_0": "name", "existing": "update"})
    assert refused.status_code == 200
    assert refused.context["error"]


def test_cells_with_tabs_backslashes_and_line_breaks_survive(tenant, tmp_path):
    content = 'Nome;Telefone;Obs\r\n"Ana\\Maria\tda\nSilva";11987654321;x\r\n'
    result = _import(tmp_path, content, encoding="utf-8", mapping={"0": "name", "1": "phone"})
    assert result.created_count == 1
    assert Contact.objects.get().name == "Ana\\Maria\tda\nSilva"


def test_progress_events_reach_the_company_group(tenant):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from core.realtime import company_group
    from crm.tasks import _progress_event

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(company_group(tenant.schema_name), channel)
    contact_import = ContactImport.objects.create(
        original_name="a.csv", total_rows=10, processed_rows=4, status="running"
    )
    _progress_event(contact_import)
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == {
        "type": "job",
        "op": "progress",
        "id": f"crm-import-{contact_import.pk}",
        "done": 4,
        "total": 10,
        "status": "running",
    }


def _contact_indexes() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'crm_contact'"
        )
        return {row[0] for row in cursor.fetchall()}


def test_large_import_into_a_small_table_loads_without_the_heavy_indexes(tenant, tmp_path, monkeypatch):
    """Bulk mode: the search/tag/name indexes are dropped for the load and built again after,
    and the result is the same as through the indexes (search, tags, update of an existing row)."""
    from django.db import connection

    import crm.importing as importing
    from crm.listing import contacts_for_query

    ContactFactory(phone="+5511987654321", name="Antigo", tag_ids=[])
    before = _contact_indexes()
    assert set(importing.BULK_INDEXES) <= before
    seen_during_load = []
    original_flush = importing.copy._flush

    def flush_and_look(cursor, rows, contact_import, *args):
        seen_during_load.append(set(importing.BULK_INDEXES) & _contact_indexes())
        return original_flush(cursor, rows, contact_import, *args)

    monkeypatch.setattr(importing.bulk, "BULK_MIN_ROWS", 2)
    monkeypatch.setattr(importing.copy, "_flush", flush_and_look)
    result = _import(tmp_path, MESSY)
    assert seen_during_load and all(not present for present in seen_during_load)
    assert _contact_indexes() == before
    assert (result.created_count, result.updated_count, result.failed_count) == (2, 1, 4)
    joao = Contact.objects.get(phone="+5511987654321")
    assert joao.name == "João Conceição"
    assert sorted(Tag.objects.filter(pk__in=joao.tag_ids).values_list("name", flat=True)) == ["Lead", "VIP"]
    queryset, _clean, _segment = contacts_for_query(QueryDict("q=conceicao"))
    assert list(queryset.values_list("phone", flat=True)) == ["+5511987654321"]
    # the build statements are the model's: the rebuilt indexes are the migrated ones
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'crm_contact_search_gin'")
        assert "gin (search_vector)" in cursor.fetchone()[0]


def test_indexes_come_back_when_a_bulk_import_fails(tenant, tmp_path, monkeypatch):
    import crm.importing as importing

    before = _contact_indexes()

    def broken_flush(cursor, rows, contact_import, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importing.bulk, "BULK_MIN_ROWS", 2)
    monkeypatch.setattr(importing.copy, "_flush", broken_flush)
    with pytest.raises(RuntimeError):
        _import(tmp_path, MESSY)
    assert _contact_indexes() == before


def test_indexes_left_out_by_a_dead_import_are_rebuilt(tenant):
    from django.db import connection

    from crm.importing import BULK_INDEXES, contact_indexes_ensure

    before = _contact_indexes()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX crm_contact_search_gin, crm_contact_tags_gin")
    assert sorted(contact_indexes_ensure()) == ["crm_contact_search_gin", "crm_contact_tags_gin"]
    assert _contact_indexes() == before
    assert contact_indexes_ensure() == []
    assert set(BULK_INDEXES) <= before


def test_small_imports_keep_the_indexes(tenant, tmp_path, monkeypatch):
    import crm.importing as importing

    seen = []
    original_flush = importing.copy._flush

    def flush_and_look(cursor, rows, contact_import, *args):
        seen.append(set(importing.BULK_INDEXES) <= _contact_indexes())
        return original_flush(cursor, rows, contact_import, *args)

    monkeypatch.setattr(importing.copy, "_flush", flush_and_look)
    _import(tmp_path, MESSY)
    assert seen and all(seen)


def test_import_into_an_empty_table_copies_rows_and_survives_a_concurrent_writer(tenant, tmp_path):
    """An import that starts on an empty table writes straight into it; a chunk holding a phone
    that another writer created meanwhile goes through the upsert (counted as an update)."""
    contacts = ContactListFactory(name="Feira")
    content = "Nome;Telefone;Consentimento\r\n" + "".join(
        f"Pessoa {n};(11) 9{n}765-432{n};{'sim' if n == 3 else ''}\r\n" for n in range(1, 6)
    )
    path = write(tmp_path, "feira.csv", content, "utf-8")
    inspection = inspect_file(path, "feira.csv")
    contact_import = contact_import_create(stored_name="", original_name="feira.csv", inspection=inspection)
    contact_import.file.save("feira.csv", ContentFile(open(path, "rb").read()), save=False)
    contact_import.mapping = {"0": "name", "1": "phone", "2": "consent"}
    contact_import.contact_list = contacts
    contact_import.status = "queued"
    contact_import.save()

    def webhook_creates_a_contact(progress_import):
        if progress_import.processed_rows == 2:
            ContactFactory(phone="+5511947654324", name="Do WhatsApp")

    result = run_import(contact_import, chunk_rows=2, progress=webhook_creates_a_contact)
    assert (result.created_count, result.updated_count, result.failed_count) == (4, 1, 0)
    assert Contact.objects.get(phone="+5511947654324").name == "Pessoa 4"
    assert Contact.objects.count() == 5
    assert ContactListMember.objects.filter(contact_list=contacts).count() == 5
    first = Contact.objects.get(phone="+5511917654321")
    assert (first.import_id, first.source, first.consent_status) == (result.pk, "import", ConsentStatus.UNKNOWN)
    third = Contact.objects.get(phone="+5511937654323")
    assert (third.consent_status, third.consent_source) == (ConsentStatus.OPTED_IN, "import")
    assert third.consent_changed_at is not None and third.created_at == result.started_at


def test_the_periodic_task_rebuilds_indexes_a_dead_import_left_out(tenant):
    from django.db import connection

    from crm.tasks import bulk_operations_purge_all

    before = _contact_indexes()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX crm_contact_name")
    bulk_operations_purge_all()
    connection.set_tenant(tenant)
    assert _contact_indexes() == before
