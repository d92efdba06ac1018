"""Extraction of every format, chunking, background indexing, hybrid retrieval, isolation."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from ai_personas.knowledge.chunking import chunk_text
from ai_personas.knowledge.extract import extract_text
from ai_personas.knowledge.indexing import (
    ERR_QA_EMPTY,
    document_delete,
    document_index,
    document_qa_create,
    document_update,
    document_upload,
    knowledge_base_create,
)
from ai_personas.knowledge.retrieval import retrieve
from ai_personas.models import Chunk, DocumentStatus


def _docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Trocas", level=1)
    document.add_paragraph("Você pode trocar em até 30 dias.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf_bytes() -> bytes:
    # A one-page PDF with a text object, written by hand (no PDF writer needed).
    text = "BT /F1 12 Tf 72 720 Td (Prazo de entrega de 2 dias) Tj ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        ("pdf", _pdf_bytes(), "Prazo de entrega de 2 dias"),
        ("docx", _docx_bytes(), "# Trocas"),
        (
            "html",
            b"<html><script>x()</script><h2>Frete</h2><p>Gr\xc3\xa1tis acima de R$ 199</p></html>",
            "## Frete\n\nGrátis acima",
        ),
        ("csv", "pergunta;resposta\nTem Pix?;Sim, com 5% de desconto\n".encode("latin-1"), "resposta: Sim, com 5%"),
        ("txt", "Horário: 8h às 20h".encode("cp1252"), "Horário: 8h às 20h"),
        ("md", b"# Loja\nRua Augusta", "# Loja"),
    ],
)
def test_extract_every_format(kind, content, expected):
    assert expected in extract_text(kind=kind, content=content)


def test_chunks_follow_headings_and_overlap():
    text = (
        "# Entregas\n## Prazo\n"
        + " ".join(f"Frase número {i} sobre o prazo." for i in range(60))
        + "\n## Frete\nGrátis."
    )
    chunks = chunk_text(text, max_chars=300, overlap=80)
    assert chunks[0].heading == "Entregas > Prazo"
    assert chunks[-1].heading == "Entregas > Frete" and chunks[-1].text == "Grátis."
    prazo = [c for c in chunks if c.heading.endswith("Prazo")]
    assert all(len(c.text) <= 300 for c in prazo)
    # the next chunk starts with the previous chunk's last sentences (the overlap)
    first_of_next = prazo[1].text.split(". ")[0] + "."
    assert first_of_next in prazo[0].text
    assert prazo[0].text.rsplit(". ", 1)[-1] in prazo[1].text


def test_upload_refuses_unreadable_file_and_stores_nothing(tenant, openai_stub):
    kb = knowledge_base_create(name="Docs")
    with pytest.raises(ValidationError):
        document_upload(knowledge_base=kb, filename="x.pdf", content=b"not a pdf")
    with pytest.raises(ValidationError):
        document_upload(knowledge_base=kb, filename="x.exe", content=b"MZ")
    assert kb.documents.count() == 0


def test_upload_indexes_in_background_with_progress(tenant, openai_stub, django_capture_on_commit_callbacks):
    kb = knowledge_base_create(name="Docs")
    with django_capture_on_commit_callbacks() as callbacks:
        document = document_upload(knowledge_base=kb, filename="ajuda.md", content=b"# Pix\nPix tem 5% de desconto.")
    assert document.status == DocumentStatus.PENDING and callbacks  # indexing queued after commit
    document_index(document_id=document.pk)
    document.refresh_from_db()
    kb.refresh_from_db()
    assert document.status == DocumentStatus.READY and document.chunks_done == document.chunks_total == 1
    assert (kb.embedding_model, kb.embedding_dims) == ("local", 256)
    chunk = Chunk.objects.get(document=document)
    assert chunk.heading == "Pix" and chunk.dims == 256


def test_hybrid_retrieval_cites_the_answer(kb):
    result = retrieve(question="Em quantos dias chega em Campinas?", knowledge_bases=[kb])
    assert result.hits, "no hit"
    assert result.hits[0].heading.endswith("Prazo de entrega")
    citation = result.hits[0].citation()
    assert citation["title"] == "Central de ajuda" and citation["heading"].endswith("Prazo de entrega")


def test_retrieval_quality_on_the_ptbr_question_set(kb):
    from ai_personas.knowledge.eval_ptbr import QUESTIONS

    found = 0
    for question, heading in QUESTIONS:
        hits = retrieve(question=question, knowledge_bases=[kb], top_k=5).hits
        found += any(h.heading.endswith(heading) for h in hits)
    assert found / len(QUESTIONS) >= 0.85, found


def test_reindex_on_change_and_delete_with_document(kb, tenant):
    qa = document_qa_create(knowledge_base=kb, question="Vocês abrem no Natal?", answer="Não abrimos no Natal.")
    document_index(document_id=qa.pk)
    assert retrieve(question="abre no natal", knowledge_bases=[kb]).hits[0].document_id == qa.pk
    document_update(document=qa, text="Abrimos no Natal das 10h às 14h.")
    qa.refresh_from_db()
    assert qa.status == DocumentStatus.PENDING
    document_index(document_id=qa.pk)
    assert list(Chunk.objects.filter(document=qa).values_list("text", flat=True)) == [
        "Vocês abrem no Natal?\nAbrimos no Natal das 10h às 14h."
    ]
    document_delete(document=qa)
    assert not Chunk.objects.filter(document_id=qa.pk).exists()
    with pytest.raises(ValidationError) as error:
        document_qa_create(knowledge_base=kb, question="", answer="x")
    from django.utils.translation import gettext

    assert gettext(ERR_QA_EMPTY) in str(error.value)


def test_vectors_are_isolated_per_company(kb, other_company):
    from ai_personas.models import KnowledgeBase

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ai_personas_chunk")
        mine = cursor.fetchone()[0]
    assert mine > 0
    connection.set_tenant(other_company)
    assert not Chunk.objects.exists()
    assert not KnowledgeBase.objects.exists()
    # The same ids asked in the other company find nothing.
    assert retrieve(question="prazo de entrega", knowledge_bases=[kb]).hits == []
