"""Reading numbers from query strings and other text we did not write."""

from __future__ import annotations


def int_param(value: object) -> int | None:
    """``value`` as a non-negative integer when it is one written in ASCII digits, else ``None``.

    ``str.isdigit()`` is true for "²" or "١٢" too, which ``int()`` then refuses (a 500 on every
    endpoint that checked a parameter that way). Values past any id come back as they are:
    Django answers "nothing" for them rather than failing.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
