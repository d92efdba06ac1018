"""Phone numbers in E.164.

Brazilian numbers (the vast majority) take a fast path written from the numbering plan:
``+55``, ``0055``, carrier prefixes (``0 xx DDD``), a leading trunk ``0``, punctuation and
spaces, and mobiles written without the ninth digit (added, as every Brazilian mobile has had
nine digits since 2016). Everything else goes through ``phonenumbers`` (cached: it costs tens
of microseconds per call, too slow for a million-row import).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.utils.translation import gettext_lazy as _

ERR_PHONE_EMPTY = _("Enter a phone number.")
ERR_PHONE_INVALID = _("This is not a valid phone number.")
ERR_PHONE_NO_AREA_CODE = _("Add the area code (DDD) to the phone number.")
ERR_PHONE_AREA_CODE = _("This area code (DDD) does not exist in Brazil.")

# Brazilian area codes (DDD) in use.
BR_AREA_CODES = frozenset(
    [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38]
    + [41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69]
    + [71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89]
    + [91, 92, 93, 94, 95, 96, 97, 98, 99]
)
_BR_DDD = frozenset(str(code) for code in BR_AREA_CODES)
_NON_DIGITS = re.compile(r"\D+")
_PUNCTUATION = str.maketrans("", "", " ()-+./\t")


class InvalidPhoneError(ValueError):
    """``message`` is one of the ``ERR_PHONE_*`` constants (translated when shown)."""

    def __init__(self, message, raw: str = ""):
        super().__init__(str(message))
        self.message = message
        self.raw = raw


def _br_national(national: str, raw: str) -> str:
    """E.164 of a Brazilian number given as DDD + subscriber number (10 or 11 digits)."""
    if len(national) not in (10, 11):
        if len(national) in (8, 9):
            raise InvalidPhoneError(ERR_PHONE_NO_AREA_CODE, raw)
        raise InvalidPhoneError(ERR_PHONE_INVALID, raw)
    ddd, number = national[:2], national[2:]
    if ddd not in _BR_DDD:
        raise InvalidPhoneError(ERR_PHONE_AREA_CODE, raw)
    if len(number) == 9:
        if number[0] != "9":
            raise InvalidPhoneError(ERR_PHONE_INVALID, raw)
        return f"+55{ddd}{number}"
    first = number[0]
    if first in "6789":  # a mobile written without its ninth digit
        return f"+55{ddd}9{number}"
    if first in "2345":  # landline
        return f"+55{ddd}{number}"
    raise InvalidPhoneError(ERR_PHONE_INVALID, raw)


@lru_cache(maxsize=65536)
def _generic(raw: str, default_country: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, default_country or None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneError(ERR_PHONE_INVALID, raw) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneError(ERR_PHONE_INVALID, raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str, default_country: str = "BR") -> str:
    """The E.164 form of ``raw`` ("+5511987654321"); raises ``InvalidPhoneError``.

    ``default_country`` (ISO 3166 alpha-2) applies when the number carries no country code.
    """
    if raw is None:
        raise InvalidPhoneError(ERR_PHONE_EMPTY, "")
    text = str(raw).strip()
    if not text:
        raise InvalidPhoneError(ERR_PHONE_EMPTY, text)
    # The punctuation people type, removed by one C call; anything else (letters, other
    # symbols) takes the regular expression (a million-row import calls this per row).
    digits = text.translate(_PUNCTUATION)
    if not (digits.isascii() and digits.isdigit()):
        digits = _NON_DIGITS.sub("", text)
    if not digits:
        raise InvalidPhoneError(ERR_PHONE_INVALID, text)
    if len(digits) > 17:
        raise InvalidPhoneError(ERR_PHONE_INVALID, text)
    international = text[0] == "+"
    if not international and digits.startswith("00"):
        # "00 55 11 ..." is the international prefix dialled from Brazil or Europe.
        international, digits = True, digits[2:]
    if international:
        if digits.startswith("55"):
            return _br_national(digits[2:], text)
        return _generic("+" + digits, "")
    if default_country.upper() == "BR":
        if digits.startswith("0"):
            rest = digits[1:]
            # "0 21 11 98765-4321": trunk 0 + carrier code + DDD + number.
            if len(rest) in (12, 13):
                return _br_national(rest[2:], text)
            return _br_national(rest, text)
        if len(digits) in (12, 13) and digits.startswith("55"):
            return _br_national(digits[2:], text)
        return _br_national(digits, text)
    return _generic(text, default_country.upper())


def try_normalize_phone(raw: str, default_country: str = "BR") -> str | None:
    try:
        return normalize_phone(raw, default_country)
    except InvalidPhoneError:
        return None


def wa_id_candidates(wa_id: str) -> list[str]:
    """E.164 numbers a WhatsApp id may stand for, the canonical one first.

    WhatsApp keeps many Brazilian mobiles registered before the ninth digit under a 12-digit
    id ("551187654321"), while the same person is saved as "+5511987654321"; both forms are
    returned for such ids so either finds the contact.
    """
    digits = _NON_DIGITS.sub("", wa_id or "")
    if not digits:
        return []
    if digits.startswith("55") and digits[2:4] in _BR_DDD:
        ddd, number = digits[2:4], digits[4:]
        if len(number) == 8 and number[0] in "6789":
            return [f"+55{ddd}9{number}", f"+{digits}"]
        if len(number) == 9 and number[0] == "9" and number[1] in "6789":
            return [f"+{digits}", f"+55{ddd}{number[1:]}"]
    return [f"+{digits}"]


_COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _can_start_a_number(prefix: str) -> bool:
    """Whether some stored (valid E.164) number can start with ``+prefix``: a country code
    exists there, North American area codes start with 2-9, Brazilian ones are real DDDs.
    Pruning the others keeps a partial-number search to one index range (one scan)."""
    for size in (1, 2, 3):
        code, rest = prefix[:size], prefix[size:]
        if code not in _COUNTRY_CODES:
            continue
        if code == "1":
            return not rest or rest[0] in "23456789"
        if code == "55":
            return len(rest) < 2 or rest[:2] in _BR_DDD
        return True
    return len(prefix) < 3 and any(code.startswith(prefix) for code in _COUNTRY_CODES)


def search_digit_prefixes(query: str, default_country: str = "BR") -> list[str]:
    """Digit prefixes (after the "+") of an E.164 phone typed in any format.

    "(11) 98765" -> ["1198765", "551198765"]; "+55 11 9..." -> ["55119..."]; a leading trunk
    "0" is dropped. Used by the contact search (btree ``text_pattern_ops`` prefix scans).
    """
    text = query.strip()
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return []
    if text.startswith("+"):
        return [digits]
    if digits.startswith("00"):
        return [digits[2:]]
    prefixes = {digits}
    national = digits[1:] if digits.startswith("0") else digits
    if national:
        prefixes.add(national)
    code = str(phonenumbers.country_code_for_region(default_country.upper()) or "")
    if code and national:
        prefixes.add(code + national)
        # A Brazilian mobile typed without its ninth digit: "11 8765-4321".
        if code == "55" and len(national) == 10 and national[2] in "6789":
            prefixes.add(f"55{national[:2]}9{national[2:]}")
    return sorted(p for p in prefixes if _can_start_a_number(p))
