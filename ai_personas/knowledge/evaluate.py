"""Retrieval quality of the offline embedders on the pt-BR question set (``eval_ptbr``).

    python -m ai_personas.knowledge.evaluate

Prints recall@1/3/5 and MRR per embedder (vector search alone, exact cosine). The hybrid
retrieval on top of the chosen embedder is measured against PostgreSQL in
``ai_personas/tests/test_retrieval.py``.
"""

from __future__ import annotations

import time

import numpy as np

from ai_personas.knowledge.chunking import chunk_text
from ai_personas.knowledge.eval_ptbr import CORPUS, QUESTIONS


def chunk_corpus():
    return chunk_text(CORPUS)


def passage(chunk) -> str:
    return f"{chunk.heading.split(' > ')[-1]}\n{chunk.text}" if chunk.heading else chunk.text


def ranks_for(embedder) -> list[int]:
    """1-based rank of the first chunk under the expected heading, per question."""
    chunks = chunk_corpus()
    matrix = embedder.embed([passage(c) for c in chunks])
    queries = embedder.embed([q for q, _h in QUESTIONS])
    ranks = []
    for (_question, heading), vector in zip(QUESTIONS, queries, strict=True):
        order = np.argsort(-(matrix @ vector))
        rank = next(i + 1 for i, idx in enumerate(order) if chunks[idx].heading.endswith(heading))
        ranks.append(rank)
    return ranks


def metrics(ranks: list[int]) -> dict[str, float]:
    n = len(ranks)
    return {
        "recall@1": sum(r <= 1 for r in ranks) / n,
        "recall@3": sum(r <= 3 for r in ranks) / n,
        "recall@5": sum(r <= 5 for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks) / n,
    }


def main() -> None:
    from ai_personas.knowledge.embedders import HashingEmbedder, LocalEmbedder

    print(f"{len(QUESTIONS)} questions over {len(chunk_corpus())} chunks")
    for name, factory in (("wordllama-256 (local)", LocalEmbedder), ("hashing n-grams 256", HashingEmbedder)):
        started = time.perf_counter()
        embedder = factory()
        m = metrics(ranks_for(embedder))
        took = time.perf_counter() - started
        print(f"{name:24s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()) + f"  ({took:.2f} s)")


if __name__ == "__main__":
    main()
