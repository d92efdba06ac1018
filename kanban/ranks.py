"""Fractional ranks: text keys that sort a column, so a move writes the moved card only.

Keys are base-62 strings (``0-9A-Za-z``, compared byte-wise: the column has the ``C``
collation) made of an integer part, whose first character says its length (``a0``, ``a1`` ...
``Zz`` below ``a0``), and an optional fraction. Appending or prepending increments or
decrements the integer part, so a column filled from one end keeps keys of 2-3 characters;
inserting between two neighbours takes the midpoint of their fractions, which grows by about
one character every six inserts at the very same spot. The algorithm is the one of
"fractional-indexing" (Figma, rocicorp), written out here.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
INTEGER_ZERO = "a0"
SMALLEST_INTEGER = "A" + DIGITS[0] * 26
MAX_LENGTH = 128


class RankError(ValueError):
    pass


def _digit(char: str) -> int:
    index = DIGITS.find(char)
    if index < 0:
        raise RankError(f"invalid rank digit {char!r}")
    return index


def _integer_length(head: str) -> int:
    if "a" <= head <= "z":
        return ord(head) - ord("a") + 2
    if "A" <= head <= "Z":
        return ord("Z") - ord(head) + 2
    raise RankError(f"invalid rank head {head!r}")


def _integer_part(key: str) -> str:
    length = _integer_length(key[0])
    if length > len(key):
        raise RankError(f"invalid rank {key!r}")
    return key[:length]


def validate(key: str) -> None:
    if not key or key == SMALLEST_INTEGER:
        raise RankError(f"invalid rank {key!r}")
    integer = _integer_part(key)
    if key[len(integer) :].endswith(DIGITS[0]):
        raise RankError(f"invalid rank {key!r}")
    for char in key[1:]:
        _digit(char)


def _midpoint(a: str, b: str | None) -> str:
    """A fraction strictly between ``a`` and ``b`` (``None``: above everything)."""
    if b is not None and a >= b:
        raise RankError(f"{a!r} >= {b!r}")
    if b is not None:
        n = 0
        while (a[n] if n < len(a) else DIGITS[0]) == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _digit(a[0]) if a else 0
    digit_b = _digit(b[0]) if b is not None else BASE
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return b[:1]
    return DIGITS[digit_a] + _midpoint(a[1:], None)


def _increment(integer: str) -> str | None:
    head, digits = integer[0], list(integer[1:])
    for i in reversed(range(len(digits))):
        value = _digit(digits[i]) + 1
        if value < BASE:
            digits[i] = DIGITS[value]
            return head + "".join(digits)
        digits[i] = DIGITS[0]
    if head == "Z":
        return INTEGER_ZERO
    if head == "z":
        return None
    new_head = chr(ord(head) + 1)
    if new_head > "a":
        digits.append(DIGITS[0])
    else:
        digits.pop()
    return new_head + "".join(digits)


def _decrement(integer: str) -> str | None:
    head, digits = integer[0], list(integer[1:])
    for i in reversed(range(len(digits))):
        value = _digit(digits[i]) - 1
        if value >= 0:
            digits[i] = DIGITS[value]
            return head + "".join(digits)
        digits[i] = DIGITS[-1]
    if head == "a":
        return "Z" + DIGITS[-1]
    if head == "A":
        return None
    new_head = chr(ord(head) - 1)
    if new_head < "Z":
        digits.append(DIGITS[-1])
    else:
        digits.pop()
    return new_head + "".join(digits)


def between(a: str | None, b: str | None) -> str:
    """A key strictly between ``a`` and ``b``; ``None`` is the start or the end of the column."""
    if a is not None:
        validate(a)
    if b is not None:
        validate(b)
    if a is not None and b is not None and a >= b:
        raise RankError(f"{a!r} >= {b!r}")
    if a is None and b is None:
        return INTEGER_ZERO
    if a is None:
        assert b is not None
        integer_b = _integer_part(b)
        if integer_b == SMALLEST_INTEGER:
            return integer_b + _midpoint("", b[len(integer_b) :])
        if integer_b < b:
            return integer_b
        lower = _decrement(integer_b)
        if lower is None:
            raise RankError("cannot rank before the smallest key")
        return lower
    integer_a = _integer_part(a)
    fraction_a = a[len(integer_a) :]
    if b is None:
        higher = _increment(integer_a)
        return integer_a + _midpoint(fraction_a, None) if higher is None else higher
    integer_b = _integer_part(b)
    if integer_a == integer_b:
        return integer_a + _midpoint(fraction_a, b[len(integer_b) :])
    higher = _increment(integer_a)
    if higher is None:
        raise RankError("cannot rank after the largest key")
    if higher < b:
        return higher
    return integer_a + _midpoint(fraction_a, None)


def run_after(last: str | None, count: int) -> list[str]:
    """``count`` increasing keys after ``last`` (a bulk append)."""
    keys = []
    for _ in range(count):
        last = between(last, None)
        keys.append(last)
    return keys
