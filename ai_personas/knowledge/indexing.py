"""Writes of knowledge: knowledge bases, documents (uploads and Q&A entries) and indexing.

Uploading extracts the text at once (a file that cannot be read is refused with a clear
message and nothing is stored) and queues the indexing by task name after commit. The worker
chunks, embeds in batches and inserts; the progress bar moves through ``job`` events on the
company's ``/ws/events/`` socket, at most a few per second (coalesced) plus the final one.
A changed document is re-indexed; its new chunks replace the old ones when it finishes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from functools import partial

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from ai_personas.knowledge.chunking import chunk_text
from ai_personas.knowledge.extract import ExtractError, extract_text, kind_for
from ai_personas.models import (
    INDEXED_DIMS,
    Chunk,
    Document,
    DocumentKind,
    DocumentStatus,
    KnowledgeBase,
    Language,
)
from core.realtime import send_event
from core.tasks import enqueue_on_commit
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

ERR_KB_NAME = gettext_noop("Give the knowledge base a name (at most 100 characters).")
ERR_LANGUAGE = gettext_noop("Choose Portuguese or English.")
ERR_MIN_SCORE = gettext_noop("The minimum similarity must be between 0 and 1.")
ERR_FILE_TOO_BIG = gettext_noop("The file is too large (at most 20 MB).")
ERR_TITLE = gettext_noop("Give the document a title (at most 200 characters).")
ERR_QA_EMPTY = gettext_noop("Write both the question and the answer.")
ERR_TEXT_EMPTY = gettext_noop("The document has no text.")
ERR_DIMS = gettext_noop("The embedding model returned %(dims)s dimensions; supported sizes are %(sizes)s.")

MAX_UPLOAD = 20 * 1024 * 1024
BATCH = 64
STALE_INDEXING = __import__("datetime").timedelta(minutes=10)
PROGRESS_EVERY = 0.25  # seconds between two progress events of one document


def _clean_kb(name: str, language: str, min_score: float) -> tuple[str, str, float]:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError(_(ERR_KB_NAME))
    if language not in Language.values:
        raise ValidationError(_(ERR_LANGUAGE))
    try:
        min_score = float(min_score)
    except (TypeError, ValueError) as exc:
        raise ValidationError(_(ERR_MIN_SCORE)) from exc
    if not 0 <= min_score <= 1:
        raise ValidationError(_(ERR_MIN_SCORE))
    return name, language, min_score


@transaction.atomic
def knowledge_base_create(
    *, name: str, description: str = "", language: str = Language.PORTUGUESE, min_score: float = 0.35
) -> KnowledgeBase:
    name, language, min_score = _clean_kb(name, language, min_score)
    return KnowledgeBase.objects.create(
        name=name, description=(description or "")[:300], language=language, min_score=min_score
    )


@transaction.atomic
def knowledge_base_update(
    *, knowledge_base: KnowledgeBase, name: str, description: str = "", language: str, min_score: float
) -> KnowledgeBase:
    name, language, min_score = _clean_kb(name, language, min_score)
    relanguage = language != knowledge_base.language
    knowledge_base.name, knowledge_base.description = name, (description or "")[:300]
    knowledge_base.language, knowledge_base.min_score = language, min_score
    knowledge_base.save(update_fields=["name", "description", "language", "min_score", "updated_at"])
    if relanguage:
        # The full-text vectors were built with the other configuration.
        knowledge_base_reindex(knowledge_base=knowledge_base)
    return knowledge_base


@transaction.atomic
def knowledge_base_delete(*, knowledge_base: KnowledgeBase) -> None:
    for document in knowledge_base.documents.all():
        if document.file:
            transaction.on_commit(partial(_delete_file, document.file.name or ""))
    knowledge_base.delete()


def _delete_file(name: str) -> None:
    if not name:
        return
    from django.core.files.storage import default_storage

    try:
        default_storage.delete(name)
    except OSError:
        logger.warning("could not delete %s", name)


@transaction.atomic
def knowledge_base_reindex(*, knowledge_base: KnowledgeBase) -> int:
    """Queue every document again (after a change of embedding model or language)."""
    ids = list(knowledge_base.documents.values_list("pk", flat=True))
    Document.objects.filter(pk__in=ids).update(status=DocumentStatus.PENDING, chunks_done=0, error="")
    for pk in ids:
        enqueue_on_commit("ai_personas.document_index", require_tenant_schema(), pk)
    return len(ids)


def _queue(document: Document) -> None:
    enqueue_on_commit("ai_personas.document_index", require_tenant_schema(), document.pk)


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@transaction.atomic
def document_upload(
    *, knowledge_base: KnowledgeBase, filename: str, content: bytes, title: str = "", by=None
) -> Document:
    """Store an uploaded file, its extracted text, and queue its indexing."""
    if len(content) > MAX_UPLOAD:
        raise ValidationError(_(ERR_FILE_TOO_BIG))
    try:
        kind = kind_for(filename or "")
        text = extract_text(kind=kind, content=content)
    except ExtractError as exc:
        raise ValidationError(str(exc)) from exc
    title = (title or filename or "").strip()[:200]
    if not title:
        raise ValidationError(_(ERR_TITLE))
    document = Document(
        knowledge_base=knowledge_base,
        title=title,
        kind=kind,
        text=text,
        content_hash=_hash(text),
        created_by_id=getattr(by, "pk", None),
        chunks_total=len(chunk_text(text)),
    )
    safe_name = (filename or "document").replace("/", "_").replace("\\", "_")[-120:]
    document.file.save(safe_name, ContentFile(content), save=False)
    document.save()
    _queue(document)
    return document


def _clean_qa(question: str, answer: str) -> tuple[str, str]:
    question, answer = (question or "").strip(), (answer or "").strip()
    if not question or not answer:
        raise ValidationError(_(ERR_QA_EMPTY))
    return question[:2000], answer[:20000]


@transaction.atomic
def document_qa_create(*, knowledge_base: KnowledgeBase, question: str, answer: str, by=None) -> Document:
    question, answer = _clean_qa(question, answer)
    document = Document.objects.create(
        knowledge_base=knowledge_base,
        title=question[:200],
        kind=DocumentKind.QA,
        question=question,
        text=answer,
        content_hash=_hash(question, answer),
        created_by_id=getattr(by, "pk", None),
        chunks_total=1,
    )
    _queue(document)
    return document


@transaction.atomic
def document_text_create(*, knowledge_base: KnowledgeBase, title: str, text: str, by=None) -> Document:
    """A document written in the page (Markdown), or loaded by demo data."""
    title, text = (title or "").strip()[:200], (text or "").strip()
    if not title:
        raise ValidationError(_(ERR_TITLE))
    if not text:
        raise ValidationError(_(ERR_TEXT_EMPTY))
    document = Document.objects.create(
        knowledge_base=knowledge_base,
        title=title,
        kind=DocumentKind.MARKDOWN,
        text=text,
        content_hash=_hash(text),
        created_by_id=getattr(by, "pk", None),
        chunks_total=len(chunk_text(text)),
    )
    _queue(document)
    return document


@transaction.atomic
def document_update(
    *, document: Document, title: str | None = None, text: str | None = None, question: str | None = None
) -> Document:
    """Change a document's title or text; a changed text is re-indexed."""
    if title is not None:
        title = title.strip()[:200]
        if not title:
            raise ValidationError(_(ERR_TITLE))
        document.title = title
    if document.kind == DocumentKind.QA:
        q, a = _clean_qa(
            question if question is not None else document.question, text if text is not None else document.text
        )
        document.question, document.text = q, a
        new_hash = _hash(q, a)
    else:
        if text is not None:
            if not text.strip():
                raise ValidationError(_(ERR_TEXT_EMPTY))
            document.text = text.strip()
        new_hash = _hash(document.text)
    changed = new_hash != document.content_hash
    document.content_hash = new_hash
    fields = ["title", "text", "question", "content_hash", "updated_at"]
    if changed:
        document.status, document.chunks_done, document.error = DocumentStatus.PENDING, 0, ""
        document.chunks_total = 1 if document.kind == DocumentKind.QA else len(chunk_text(document.text))
        fields += ["status", "chunks_done", "error", "chunks_total"]
    document.save(update_fields=fields)
    if changed:
        _queue(document)
    return document


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete the document, its chunks (cascade) and its file."""
    if document.file:
        transaction.on_commit(partial(_delete_file, document.file.name or ""))
    document.delete()


# --- the indexing worker -------------------------------------------------------------------------


def document_chunks(document: Document) -> list[tuple[str, str]]:
    if document.kind == DocumentKind.QA:
        return [(document.question, f"{document.question}\n{document.text}")]
    return [(c.heading, c.text) for c in chunk_text(document.text)]


def passage(heading: str, text: str) -> str:
    """What gets embedded: the closest heading gives a short chunk its topic."""
    last = heading.split(" > ")[-1] if heading else ""
    return f"{last}\n{text}" if last and not text.startswith(last) else text


def _progress(document: Document) -> None:
    try:
        send_event(
            {
                "type": "job",
                "op": "progress",
                "id": f"ai-doc-{document.pk}",
                "done": document.chunks_done,
                "total": document.chunks_total,
                "status": document.status,
                "knowledge_base": document.knowledge_base_id,
            }
        )
    except Exception:  # noqa: BLE001 - progress is best effort (the page also polls)
        logger.warning("could not publish indexing progress", exc_info=True)


_INSERT = """
INSERT INTO ai_personas_chunk (document_id, knowledge_base_id, position, heading, text, dims, embedding, search)
SELECT %s, %s, u.position, u.heading, u.body, %s, u.embedding::vector,
       setweight(to_tsvector(%s::regconfig, u.heading), 'A') || to_tsvector(%s::regconfig, u.body)
FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[]) AS u(position, heading, body, embedding)
RETURNING id
"""


def document_index(*, document_id: int, embedder=None) -> Document | None:
    """Chunk, embed and store one document (worker). Returns the document, ``None`` if gone."""
    from ai_personas.knowledge.embedders import embedder_for
    from ai_personas.knowledge.retrieval import vector_literal
    from ai_personas.llm import LLMError, company_endpoint

    with transaction.atomic():
        document = (
            Document.objects.select_for_update(skip_locked=True)
            .select_related("knowledge_base")
            .filter(pk=document_id)
            .first()
        )
        if document is None:
            return None
        if document.status == DocumentStatus.INDEXING and document.updated_at > timezone.now() - STALE_INDEXING:
            return document  # another worker has it (a crashed one's claim expires)
        kb = document.knowledge_base
        model = company_endpoint().embedding_model
        if kb.embedding_model and kb.embedding_model != model:
            # The model changed: every document of the base must be embedded again.
            kb.embedding_model, kb.embedding_dims = "", None
            kb.save(update_fields=["embedding_model", "embedding_dims", "updated_at"])
            others = kb.documents.exclude(pk=document.pk)
            others.update(status=DocumentStatus.PENDING, chunks_done=0)
            for pk in others.values_list("pk", flat=True):
                enqueue_on_commit("ai_personas.document_index", require_tenant_schema(), pk)
        pieces = document_chunks(document)
        document.status, document.chunks_total, document.chunks_done, document.error = (
            DocumentStatus.INDEXING,
            len(pieces),
            0,
            "",
        )
        document.save(update_fields=["status", "chunks_total", "chunks_done", "error", "updated_at"])
        first_new = None
    _progress(document)
    embedder = embedder or embedder_for(model, kb.embedding_dims)
    last_event = time.monotonic()
    try:
        for start in range(0, len(pieces), BATCH):
            batch = pieces[start : start + BATCH]
            vectors = embedder.embed([passage(h, t) for h, t in batch])
            dims = int(vectors.shape[1])
            if dims not in INDEXED_DIMS:
                raise ValidationError(_(ERR_DIMS) % {"dims": dims, "sizes": ", ".join(map(str, INDEXED_DIMS))})
            with transaction.atomic():
                if kb.embedding_dims is None:
                    KnowledgeBase.objects.filter(pk=kb.pk).update(embedding_model=embedder.model, embedding_dims=dims)
                    kb.embedding_model, kb.embedding_dims = embedder.model, dims
                with connection.cursor() as cursor:
                    cursor.execute(
                        _INSERT,
                        [
                            document.pk,
                            kb.pk,
                            dims,
                            kb.language,
                            kb.language,
                            list(range(start, start + len(batch))),
                            [h[:300] for h, _t in batch],
                            [t for _h, t in batch],
                            [vector_literal(v) for v in vectors],
                        ],
                    )
                    ids = [row[0] for row in cursor.fetchall()]
                first_new = min(ids) if first_new is None else first_new
                document.chunks_done = start + len(batch)
                Document.objects.filter(pk=document.pk).update(
                    chunks_done=document.chunks_done, updated_at=timezone.now()
                )
            if time.monotonic() - last_event >= PROGRESS_EVERY:
                _progress(document)
                last_event = time.monotonic()
    except (LLMError, ValidationError) as exc:
        message = exc.message if isinstance(exc, LLMError) else "; ".join(exc.messages)
        with transaction.atomic():
            if first_new is not None:
                Chunk.objects.filter(document_id=document.pk, pk__gte=first_new).delete()
            document.status, document.error = DocumentStatus.FAILED, message[:500]
            Document.objects.filter(pk=document.pk).update(status=document.status, error=document.error)
        _progress(document)
        return document
    with transaction.atomic():
        old = Chunk.objects.filter(document_id=document.pk)
        if first_new is not None:
            old = old.filter(pk__lt=first_new)
        old.delete()
        document.status, document.indexed_at = DocumentStatus.READY, timezone.now()
        Document.objects.filter(pk=document.pk).update(
            status=document.status, indexed_at=document.indexed_at, chunks_done=document.chunks_total
        )
        document.chunks_done = document.chunks_total
    if len(pieces) >= 500:
        # Fresh statistics for the full-text half's common-lexeme list (see retrieval).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE ai_personas_chunk")
    _progress(document)
    return document
