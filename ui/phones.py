"""Phone numbers as people write them: ``+5511987654321`` -> ``+55 11 98765-4321``.

Numbers are stored in E.164 (the CRM's ``normalize_phone``) and the API returns them so; pages
show them in the international format of their country (``+1 201-555-0123``,
``+44 7911 123456``). Brazilian numbers, nearly all of them, take a fast path written from the
numbering plan (DDD, then 4 or 5 digits, a hyphen, 4 digits); the others go through
``phonenumbers`` once per number (cached). A value that is not a phone number is shown as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_NON_DIGITS = re.compile(r"\D+")
_BR_E164 = re.compile(r"^\+55([1-9][1-9])(9?\d{4})(\d{4})$")


@lru_cache(maxsize=16384)
def _international(e164: str) -> str | None:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def format_phone(value: object) -> str:
    """The number in ``value`` written for people, or ``value`` unchanged when it is not one.

    Accepts E.164 (``+5511987654321``), digits with the country code and no ``+`` as providers
    send them (``5511987654321``), and already formatted numbers.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    digits = _NON_DIGITS.sub("", text)
    if not digits or len(digits) < 8 or len(digits) > 15 or not re.fullmatch(r"\+?[\d\s().\-/]+", text):
        return text
    if text.startswith("+") or (digits.startswith("55") and len(digits) in (12, 13)):
        e164 = f"+{digits}"
    else:
        return text  # no country code: not ours to guess
    match = _BR_E164.match(e164)
    if match:
        ddd, head, tail = match.groups()
        return f"+55 {ddd} {head}-{tail}"
    return _international(e164) or text
