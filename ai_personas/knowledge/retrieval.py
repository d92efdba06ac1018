"""Hybrid retrieval: vector similarity (HNSW, cosine) and PostgreSQL full-text, fused by
reciprocal rank (RRF), with a similarity threshold and citations.

Both halves are bounded candidate sets (``CANDIDATES`` each), so the query costs the same
whatever the corpus looks like:

- **vector**: an ordered scan of the HNSW index of the knowledge bases' dimension
  (``hnsw.iterative_scan`` keeps scanning when the knowledge-base filter drops neighbours).
- **full text**: the question's lexemes (the knowledge base's configuration: ``portuguese`` or
  ``english``, stop words removed) joined with OR, so a chunk matching some of the words
  counts. On a large corpus a word found in most chunks ("produto", "pedido") would make the
  GIN index return most of the table and ``ts_rank`` run over all of it (a naive hybrid took
  74 ms p95 at 100,000 chunks). Lexemes whose share of chunks, by the planner's own statistics
  of the ``search`` column (``pg_stats.most_common_elems``), would bring more than
  ``TEXT_SCAN_CAP`` rows are dropped from the OR query, like corpus-specific stop words; they
  still weigh in through the vector half. If every lexeme is that common, all are kept and the
  index scan is cut at ``TEXT_SCAN_CAP`` rows before ranking.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction

from core.tenancy import require_tenant_schema

RRF_K = 60
CANDIDATES = 40
TEXT_SCAN_CAP = 3000
EF_SEARCH = 160  # recall@10 0.97 on the benchmark corpus (HNSW built with ef_construction 128)
STATS_TTL = 300.0  # seconds the common-lexeme list is kept per company
PRUNE_ABOVE_ROWS = 5000  # below this, ranking every match is cheap: nothing is dropped


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    heading: str
    position: int
    text: str
    score: float  # fused RRF score
    similarity: float | None = None  # cosine similarity (vector half)
    text_rank: float | None = None  # ts_rank_cd (text half)

    def citation(self) -> dict:
        return {
            "chunk": self.chunk_id,
            "document": self.document_id,
            "title": self.document_title,
            "heading": self.heading,
            "position": self.position,
            "score": round(self.score, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


@dataclass
class Retrieval:
    hits: list[Hit] = field(default_factory=list)
    ms: float = 0.0
    vector_candidates: int = 0
    text_candidates: int = 0
    dropped_lexemes: list[str] = field(default_factory=list)


def vector_literal(vector) -> str:
    """pgvector's text form; six decimals are below float32 noise for unit vectors."""
    return "[" + ",".join(map(str, np.round(np.asarray(vector, dtype=np.float64), 6).tolist())) + "]"


_stats: dict[str, tuple[float, int, dict[str, float]]] = {}
_stats_lock = threading.Lock()


def common_lexemes(*, refresh: bool = False) -> tuple[int, dict[str, float]]:
    """(estimated chunk rows, lexeme -> share of chunks) from ``pg_stats``, cached a while."""
    schema = require_tenant_schema()
    now = time.monotonic()
    with _stats_lock:
        cached = _stats.get(schema)
        if cached and not refresh and now - cached[0] < STATS_TTL:
            return cached[1], cached[2]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'ai_personas_chunk'",
            [schema],
        )
        row = cursor.fetchone()
        rows = max(int(row[0]) if row else 0, 0)
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE schemaname = %s AND tablename = 'ai_personas_chunk' AND attname = 'search'",
            [schema],
        )
        stat = cursor.fetchone()
    shares: dict[str, float] = {}
    if stat and stat[0]:
        shares = dict(zip(stat[0], stat[1][: len(stat[0])], strict=True))
    with _stats_lock:
        _stats[schema] = (now, rows, shares)
    return rows, shares


def forget_stats() -> None:
    with _stats_lock:
        _stats.clear()


def _too_common(rows: int, shares: dict[str, float]) -> list[str]:
    if rows < PRUNE_ABOVE_ROWS:
        return []
    return [lexeme for lexeme, share in shares.items() if share * rows > TEXT_SCAN_CAP]


_VECTOR_SQL = """
SELECT id, 1 - distance FROM (
    SELECT id, (embedding::vector({dims})) <=> %s::vector({dims}) AS distance
    FROM ai_personas_chunk
    WHERE dims = {dims} AND knowledge_base_id = ANY(%s)
    ORDER BY (embedding::vector({dims})) <=> %s::vector({dims})
    LIMIT %s
) AS nearest ORDER BY distance
"""

# The OR query of the question's lexemes minus the too-common ones (all of them if every one is).
_TEXT_SQL = """
WITH all_lexemes AS (
    SELECT lexeme FROM unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(text)s))) AS lexeme
), rare AS (
    SELECT lexeme FROM all_lexemes WHERE lexeme <> ALL(%(common)s::text[])
), chosen AS (
    SELECT lexeme FROM rare
    UNION ALL
    SELECT lexeme FROM all_lexemes WHERE NOT EXISTS (SELECT 1 FROM rare)
), query AS (
    SELECT to_tsquery('simple', string_agg('''' || replace(replace(lexeme, '''', ''), '\\', '') || '''', ' | ')) AS q
    FROM chosen
)
SELECT id, ts_rank_cd(search, query.q) AS rank
FROM (
    SELECT c.id, c.search FROM ai_personas_chunk c, query
    WHERE query.q IS NOT NULL AND c.search @@ query.q AND c.knowledge_base_id = ANY(%(kbs)s)
    LIMIT %(cap)s
) AS matched, query
ORDER BY rank DESC, id
LIMIT %(limit)s
"""


_tuned: weakref.WeakSet = weakref.WeakSet()


def _tune_session() -> None:
    """HNSW search settings, once per database session (they matter to our queries only):
    a wider candidate list than pgvector's default 40 for recall, and iterative scans so a
    knowledge-base filter that drops neighbours does not return fewer than asked."""
    connection.ensure_connection()
    raw = connection.connection
    if raw is None or raw in _tuned:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        cursor.execute("SET hnsw.iterative_scan = relaxed_order")
    _tuned.add(raw)


# Both halves, the fusion (RRF), the threshold and the chunk rows in one statement.
_HYBRID_SQL = """
WITH nearest AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS r FROM (
        SELECT id, (embedding::vector({dims})) <=> %(vector)s::vector({dims}) AS distance
        FROM ai_personas_chunk
        WHERE dims = {dims} AND knowledge_base_id = ANY(%(kbs)s)
        ORDER BY (embedding::vector({dims})) <=> %(vector)s::vector({dims})
        LIMIT %(limit)s
    ) AS scan
), all_lexemes AS (
    SELECT lexeme FROM unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(text)s))) AS lexeme
), rare AS (
    SELECT lexeme FROM all_lexemes WHERE lexeme <> ALL(%(common)s::text[])
), chosen AS (
    SELECT lexeme FROM rare
    UNION ALL
    SELECT lexeme FROM all_lexemes WHERE NOT EXISTS (SELECT 1 FROM rare)
), query AS (
    SELECT to_tsquery('simple', string_agg('''' || replace(replace(lexeme, '''', ''), '\\', '') || '''', ' | ')) AS q
    FROM chosen
), words AS (
    SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
        SELECT id, ts_rank_cd(search, query.q) AS rank
        FROM (
            SELECT c.id, c.search FROM ai_personas_chunk c, query
            WHERE query.q IS NOT NULL AND c.search @@ query.q AND c.knowledge_base_id = ANY(%(kbs)s)
            LIMIT %(cap)s
        ) AS matched, query
        ORDER BY rank DESC, id
        LIMIT %(limit)s
    ) AS ranked
), fused AS (
    SELECT coalesce(n.id, w.id) AS id,
           coalesce(1.0 / ({rrf} + n.r), 0) + coalesce(1.0 / ({rrf} + w.r), 0) AS score,
           1 - n.distance AS similarity, w.rank
    FROM nearest n FULL JOIN words w ON w.id = n.id
    WHERE w.id IS NOT NULL OR 1 - n.distance >= %(min_similarity)s
    ORDER BY score DESC, id
    LIMIT %(top_k)s
)
SELECT f.id, f.score, f.similarity, f.rank, c.document_id, d.title, c.heading, c.position, c.text,
       (SELECT count(*) FROM nearest), (SELECT count(*) FROM words)
FROM fused f
JOIN ai_personas_chunk c ON c.id = f.id
JOIN ai_personas_document d ON d.id = c.document_id
ORDER BY f.score DESC, f.id
"""


def hybrid_one_statement(
    *,
    vector,
    dims: int,
    text: str,
    config: str,
    kb_ids: list[int],
    min_similarity: float,
    top_k: int,
    exact: bool = False,
) -> tuple[list[Hit], int, int, list[str]]:
    """The common case: the knowledge bases share one embedding model and one language."""
    rows, shares = common_lexemes()
    common = _too_common(rows, shares)
    params: dict[str, Any] = {
        "vector": vector_literal(vector),
        "kbs": kb_ids,
        "limit": CANDIDATES,
        "config": config,
        "text": text[:2000],
        "common": common,
        "cap": 10**9 if exact else TEXT_SCAN_CAP,
        "min_similarity": min_similarity,
        "top_k": top_k,
    }
    sql = _HYBRID_SQL.format(dims=int(dims), rrf=RRF_K)
    if exact:
        # The same query without the approximations: no HNSW (sequential cosine), no scan cap.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(sql, params)
            found = cursor.fetchall()
    else:
        _tune_session()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
    hits = [
        Hit(
            chunk_id=r[0],
            document_id=r[4],
            document_title=r[5],
            heading=r[6],
            position=r[7],
            text=r[8],
            score=float(r[1]),
            similarity=None if r[2] is None else float(r[2]),
            text_rank=None if r[3] is None else float(r[3]),
        )
        for r in found
    ]
    vector_n, text_n = (int(found[0][9]), int(found[0][10])) if found else (0, 0)
    return hits, vector_n, text_n, common


def vector_candidates(*, vector, dims: int, kb_ids: list[int], limit: int = CANDIDATES, exact: bool = False):
    literal = vector_literal(vector)
    sql = _VECTOR_SQL.format(dims=int(dims))
    if not exact:
        _tune_session()
    with connection.cursor() as cursor:
        if exact:
            # The same ordering without the index (the benchmark's reference).
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(sql, [literal, kb_ids, literal, limit])
        return cursor.fetchall()


def text_candidates(
    *, text: str, config: str, kb_ids: list[int], limit: int = CANDIDATES, exact: bool = False
) -> tuple[list[tuple[int, float]], list[str]]:
    rows, shares = common_lexemes()
    common = _too_common(rows, shares)
    with connection.cursor() as cursor:
        cursor.execute(
            _TEXT_SQL,
            {
                "config": config,
                "text": text[:2000],
                "common": common,
                "kbs": kb_ids,
                "cap": 10**9 if exact else TEXT_SCAN_CAP,
                "limit": limit,
            },
        )
        return cursor.fetchall(), common


def fuse(
    vector_rows, text_rows, *, min_similarity: float, top_k: int
) -> list[tuple[int, float, float | None, float | None]]:
    """RRF over both lists. A chunk only the vector half found must reach ``min_similarity``."""
    scores: dict[int, list] = {}
    for rank, (chunk_id, similarity) in enumerate(vector_rows, start=1):
        scores.setdefault(chunk_id, [0.0, None, None])
        scores[chunk_id][0] += 1.0 / (RRF_K + rank)
        scores[chunk_id][1] = float(similarity)
    for rank, (chunk_id, text_rank) in enumerate(text_rows, start=1):
        scores.setdefault(chunk_id, [0.0, None, None])
        scores[chunk_id][0] += 1.0 / (RRF_K + rank)
        scores[chunk_id][2] = float(text_rank)
    kept = [
        (chunk_id, s[0], s[1], s[2])
        for chunk_id, s in scores.items()
        if s[2] is not None or (s[1] is not None and s[1] >= min_similarity)
    ]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return kept[:top_k]


def retrieve(
    *,
    question: str,
    knowledge_bases: list,
    top_k: int = 5,
    vector=None,
    exact: bool = False,
) -> Retrieval:
    """The ``top_k`` chunks of ``knowledge_bases`` that best answer ``question``."""
    from ai_personas.knowledge.embedders import embedder_for
    from ai_personas.models import Chunk

    started = time.perf_counter()
    result = Retrieval()
    kbs = [kb for kb in knowledge_bases if kb.embedding_dims]
    if not kbs or not question.strip():
        return result
    by_model_ids: dict[tuple[str, int], list[int]] = {}
    for kb in kbs:
        by_model_ids.setdefault((kb.embedding_model, kb.embedding_dims), []).append(kb.pk)
    languages = {kb.language for kb in kbs}
    if len(by_model_ids) == 1 and len(languages) == 1:
        (model, dims), ids = next(iter(by_model_ids.items()))
        query_vector = vector if vector is not None else embedder_for(model, dims).embed([question])[0]
        result.hits, result.vector_candidates, result.text_candidates, result.dropped_lexemes = hybrid_one_statement(
            vector=query_vector,
            dims=dims,
            text=question,
            config=languages.pop(),
            kb_ids=ids,
            min_similarity=min(kb.min_score for kb in kbs),
            top_k=top_k,
            exact=exact,
        )
        result.ms = (time.perf_counter() - started) * 1000
        return result
    # Knowledge bases with different models or languages: each half per group, fused here.
    vector_rows: list = []
    text_rows: list = []
    with transaction.atomic():
        by_model: dict[tuple[str, int], list[int]] = {}
        for kb in kbs:
            by_model.setdefault((kb.embedding_model, kb.embedding_dims), []).append(kb.pk)
        for (model, dims), ids in by_model.items():
            query_vector = vector if vector is not None else embedder_for(model, dims).embed([question])[0]
            vector_rows += vector_candidates(vector=query_vector, dims=dims, kb_ids=ids, exact=exact)
        by_language: dict[str, list[int]] = {}
        for kb in kbs:
            by_language.setdefault(kb.language, []).append(kb.pk)
        for config, ids in by_language.items():
            rows, dropped = text_candidates(text=question, config=config, kb_ids=ids, exact=exact)
            text_rows += rows
            result.dropped_lexemes = dropped
    if len(by_model) > 1:
        vector_rows.sort(key=lambda r: -r[1])
    if len(by_language) > 1:
        text_rows.sort(key=lambda r: -r[1])
    result.vector_candidates, result.text_candidates = len(vector_rows), len(text_rows)
    min_similarity = min(kb.min_score for kb in kbs)
    fused = fuse(vector_rows, text_rows, min_similarity=min_similarity, top_k=top_k)
    chunks = {
        c.pk: c
        for c in Chunk.objects.filter(pk__in=[f[0] for f in fused])
        .select_related("document")
        .only("id", "heading", "position", "text", "document__id", "document__title")
    }
    for chunk_id, score, similarity, text_rank in fused:
        chunk = chunks.get(chunk_id)
        if chunk is None:
            continue
        result.hits.append(
            Hit(
                chunk_id=chunk_id,
                document_id=chunk.document.pk,
                document_title=chunk.document.title,
                heading=chunk.heading,
                position=chunk.position,
                text=chunk.text,
                score=score,
                similarity=similarity,
                text_rank=text_rank,
            )
        )
    result.ms = (time.perf_counter() - started) * 1000
    return result


def as_array(vector) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32)
