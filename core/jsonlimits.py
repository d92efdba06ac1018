"""What PostgreSQL (and our own Python) can hold of an untrusted JSON body, checked cheaply.

Webhook bodies arrive from outside and are stored before they are parsed, so the checks here
run on every delivery: a body nested beyond :data:`MAX_DEPTH` levels is refused before
PostgreSQL's parser runs out of stack on it (one such body failed a whole group-commit batch),
and text that goes into a ``text`` column loses the characters PostgreSQL refuses there.
"""

from __future__ import annotations

import re

# Meta's deepest documented shapes (an interactive list reply inside a message inside a change
# of an entry) are about ten levels deep; Python's json module and PostgreSQL's parser both
# recurse per level, so a thousand levels is where they start to fail.
MAX_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects more than ``limit`` deep.

    Cheap for ordinary bodies: a body with at most ``limit`` opening brackets cannot be deeper,
    and counting them is two passes in C. Only bodies with more brackets are scanned, with
    brackets inside strings left out. Not a validator: malformed text gets an answer too.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b"", body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def pg_text(value: str, limit: int | None = None) -> str:
    """``value`` as PostgreSQL stores it in a ``text`` column: no NUL, no lone surrogates
    (each becomes U+FFFD), cut to ``limit`` characters."""
    if limit is not None:
        value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value
