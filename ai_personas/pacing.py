"""Human-like pacing: a long reply becomes a few natural messages, each sent after a delay that
grows with its length, with some jitter, as a person typing on a phone would."""

from __future__ import annotations

import random
import re

MAX_PART = 320  # characters of one message before it is split at a sentence
MIN_PART = 40  # shorter pieces join their neighbour
MAX_PARTS = 4
READ_DELAY = 1.2  # seconds before the first message ("reading" the customer's)
PER_CHAR = 0.035  # seconds per character typed (~ 30 characters a second)
MIN_DELAY = 1.0
MAX_DELAY = 9.0
JITTER = 0.2  # +- 20 %

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def split_reply(text: str, *, max_part: int = MAX_PART) -> list[str]:
    """Paragraphs first; a long paragraph is cut at sentence ends; tiny pieces are merged."""
    text = (text or "").strip()
    if not text:
        return []
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_part:
            pieces.append(paragraph)
            continue
        current = ""
        for sentence in _SENTENCE.split(paragraph):
            if current and len(current) + 1 + len(sentence) > max_part:
                pieces.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    merged: list[str] = []
    for piece in pieces:
        if (
            merged
            and (len(piece) < MIN_PART or len(merged[-1]) < MIN_PART)
            and len(merged[-1]) + len(piece) + 1 <= max_part
        ):
            merged[-1] = f"{merged[-1]}\n{piece}"
        else:
            merged.append(piece)
    if len(merged) > MAX_PARTS:
        merged = merged[: MAX_PARTS - 1] + ["\n\n".join(merged[MAX_PARTS - 1 :])]
    return merged


def typing_delay(text: str, rng: random.Random) -> float:
    base = min(MAX_DELAY, max(MIN_DELAY, len(text) * PER_CHAR))
    return round(base * (1 + rng.uniform(-JITTER, JITTER)), 3)


def schedule(parts: list[str], *, rng: random.Random) -> list[float]:
    """Seconds from now at which each part is sent (cumulative)."""
    at, out = READ_DELAY, []
    for part in parts:
        at += typing_delay(part, rng)
        out.append(round(at, 3))
    return out
