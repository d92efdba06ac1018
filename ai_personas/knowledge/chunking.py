"""Split text into overlapping chunks along headings and sentences.

Sections start at Markdown headings (``#`` .. ``######``); each chunk carries its heading path
("Trocas > Prazo"). Inside a section, sentences are packed up to ``max_chars``; the next chunk
starts with the last sentences of the previous one (up to ``overlap`` characters), so an
answer that straddles a boundary is whole in at least one chunk. A sentence longer than a chunk
is cut at word boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# A sentence ends at . ! ? … followed by space and an upper-case letter, a digit or a quote,
# or at a blank line / list item.
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(\[A-ZÀ-Ý0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")
MAX_CHARS = 800
OVERLAP = 150


@dataclass
class TextChunk:
    heading: str
    text: str


def sections(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs in document order."""
    path: list[tuple[int, str]] = []
    out: list[tuple[str, str]] = []
    body: list[str] = []

    def flush():
        content = "\n".join(body).strip()
        if content:
            out.append((" > ".join(t for _l, t in path), content))
        body.clear()

    for line in text.splitlines():
        match = HEADING.match(line.strip())
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, match.group(2).strip())]
        else:
            body.append(line)
    flush()
    return out


def sentences(text: str) -> list[str]:
    parts = [" ".join(p.split()) for p in SENTENCE_END.split(text)]
    return [p for p in parts if p]


def _cut(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    words, pieces, current = sentence.split(" "), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return [p[:max_chars] for p in pieces]


def chunk_text(text: str, *, max_chars: int = MAX_CHARS, overlap: int = OVERLAP) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    for heading, body in sections(text):
        units = [piece for s in sentences(body) for piece in _cut(s, max_chars)]
        current: list[str] = []
        size = 0
        for unit in units:
            if current and size + 1 + len(unit) > max_chars:
                chunks.append(TextChunk(heading, " ".join(current)))
                # Carry the tail of this chunk into the next one.
                tail: list[str] = []
                carried = 0
                for previous in reversed(current):
                    if carried + len(previous) > overlap:
                        break
                    tail.insert(0, previous)
                    carried += len(previous) + 1
                current, size = tail, carried
            current.append(unit)
            size += len(unit) + 1
        if current:
            chunks.append(TextChunk(heading, " ".join(current)))
    return chunks
