"""Embedders: the offline local one (development, demo, tests) and the provider's (production).

``local`` is WordLlama (``wordllama`` on PyPI), whose wheel carries its 256-dimension token
embeddings (16 MB, float16) and its tokenizer. Its own ``WordLlama.load()`` looks for the
tokenizer in a folder the wheel does not have and then downloads it, so the files are opened
here straight from the installed package: nothing is downloaded, ever (``HF_HUB_OFFLINE`` is
set for good measure). Chosen over a hashing n-gram embedder after measuring both on the pt-BR
question set of ``eval_ptbr`` (``python -m ai_personas.knowledge.evaluate``; README).

The hashing embedder stays as the fallback if WordLlama cannot load (and as the evaluation's
baseline): character 3-5-grams of the accent-folded text, hashed into 256 signed buckets.
"""

from __future__ import annotations

import hashlib
import os
import threading
import unicodedata
from pathlib import Path
from typing import Protocol

import numpy as np

from ai_personas.models import INDEXED_DIMS, LOCAL_MODEL

LOCAL_DIMS = 256
HASHING_MODEL = "hashing"
PUNCTUATION = ".,;:!?()[]\"'"


class Embedder(Protocol):
    model: str
    dims: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


class LocalEmbedder:
    model = LOCAL_MODEL
    dims = LOCAL_DIMS

    def __init__(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as f:
            embedding = f.get_tensor("embedding.weight")
        self._inference = WordLlamaInference(embedding, tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        vectors = np.asarray(self._inference.embed([t or " " for t in texts], norm=True), dtype=np.float32)
        return _normalize(vectors)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class HashingEmbedder:
    model = HASHING_MODEL
    dims = LOCAL_DIMS

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in fold(text).split():
                padded = " " + word.strip(PUNCTUATION) + " "
                for n in (3, 4, 5):
                    for i in range(max(1, len(padded) - n + 1)):
                        digest = hashlib.blake2b(padded[i : i + n].encode(), digest_size=8).digest()
                        value = int.from_bytes(digest, "little")
                        out[row, value % self.dims] += 1.0 if (value >> 32) & 1 else -1.0
        return _normalize(out)


class ProviderEmbedder:
    """The company's provider (``LLM.embed``). Models whose natural size has no index are
    asked for 1536 dimensions (text-embedding-3-* accept ``dimensions``)."""

    def __init__(self, model: str, dims: int | None = None):
        self.model = model
        self.dims = dims or 0

    def embed(self, texts: list[str]) -> np.ndarray:
        from ai_personas.llm import LLM

        ask = self.dims if self.dims and self.dims in INDEXED_DIMS else None
        vectors = LLM().embed(texts, model=self.model, dimensions=ask if self.dims else None)
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2:
            array = array.reshape(len(texts), -1)
        if array.shape[1] not in INDEXED_DIMS:
            array = np.asarray(LLM().embed(texts, model=self.model, dimensions=1536), dtype=np.float32)
        self.dims = int(array.shape[1])
        return _normalize(array)


_local: Embedder | None = None
_local_lock = threading.Lock()


def local_embedder() -> Embedder:
    global _local
    with _local_lock:
        if _local is None:
            try:
                _local = LocalEmbedder()
            except Exception:  # noqa: BLE001 - a broken install still leaves search working
                import logging

                logging.getLogger(__name__).exception("WordLlama failed to load; using the hashing embedder")
                _local = HashingEmbedder()
        return _local


def embedder_for(model: str, dims: int | None = None) -> Embedder:
    if not model or model == LOCAL_MODEL:
        return local_embedder()
    if model == HASHING_MODEL:
        return HashingEmbedder()
    return ProviderEmbedder(model, dims)
