import pytest

from crm.phones import (
    ERR_PHONE_AREA_CODE,
    ERR_PHONE_EMPTY,
    ERR_PHONE_INVALID,
    ERR_PHONE_NO_AREA_CODE,
    InvalidPhoneError,
    normalize_phone,
    search_digit_prefixes,
    wa_id_candidates,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 11 98765-4321", "+5511987654321"),
        ("+5511987654321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("(11) 98765-4321", "+5511987654321"),
        ("11987654321", "+5511987654321"),
        ("11 9 8765 4321", "+5511987654321"),
        ("011 98765-4321", "+5511987654321"),  # trunk 0
        ("0 21 11 98765-4321", "+5511987654321"),  # carrier code 21 (Embratel)
        ("0xx11 98765-4321".replace("xx", "15"), "+5511987654321"),
        ("0055 11 98765-4321", "+5511987654321"),
        ("(11) 8765-4321", "+5511987654321"),  # mobile without the ninth digit
        ("+55 21 7654-3210", "+5521976543210"),
        ("551187654321", "+5511987654321"),
        ("(11) 3456-7890", "+551134567890"),  # landline keeps 8 digits
        ("+55 (48) 3222.1234", "+554832221234"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+351 912 345 678", "+351912345678"),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", ERR_PHONE_EMPTY),
        ("   ", ERR_PHONE_EMPTY),
        ("abc", ERR_PHONE_INVALID),
        ("98765-4321", ERR_PHONE_NO_AREA_CODE),
        ("8765-4321", ERR_PHONE_NO_AREA_CODE),
        ("(10) 98765-4321", ERR_PHONE_AREA_CODE),
        ("(20) 3456-7890", ERR_PHONE_AREA_CODE),
        ("(11) 1234-5678", ERR_PHONE_INVALID),  # no line starts with 1
        ("(11) 88765-4321", ERR_PHONE_INVALID),  # 9 digits must start with 9
        ("123", ERR_PHONE_INVALID),
        ("+1 555", ERR_PHONE_INVALID),
        ("1" * 20, ERR_PHONE_INVALID),
    ],
)
def test_normalize_phone_rejects(raw, error):
    with pytest.raises(InvalidPhoneError) as excinfo:
        normalize_phone(raw)
    assert excinfo.value.message == error


def test_default_country_applies_without_country_code():
    assert normalize_phone("(415) 555-2671", "US") == "+14155552671"
    assert normalize_phone("+55 11 98765-4321", "US") == "+5511987654321"


def test_wa_id_candidates_cover_the_ninth_digit():
    assert wa_id_candidates("551187654321") == ["+5511987654321", "+551187654321"]
    assert wa_id_candidates("5511987654321") == ["+5511987654321", "+551187654321"]
    # landlines and other countries stand for themselves
    assert wa_id_candidates("551134567890") == ["+551134567890"]
    assert wa_id_candidates("14155552671") == ["+14155552671"]
    assert wa_id_candidates("") == []


def test_search_prefixes_accept_any_format():
    assert "551198765" in search_digit_prefixes("(11) 98765")
    assert search_digit_prefixes("+55 11 9") == ["55119"]
    assert "5511987654321" in search_digit_prefixes("11 8765-4321")
    assert search_digit_prefixes("--") == []


def test_search_prefixes_leave_out_starts_no_number_has():
    """A prefix no valid number can start with is dropped, so a partial number is usually one
    range of the phone index: "+1196..." (North American area codes start with 2-9), a
    Brazilian DDD that does not exist, a country code that does not exist."""
    assert search_digit_prefixes("(11) 9600") == ["55119600"]
    assert search_digit_prefixes("(10) 9600") == []
    assert search_digit_prefixes("212 555") == ["212555", "55212555"]  # Morocco, or Rio
    assert search_digit_prefixes("+1 212 555") == ["1212555"]
    assert search_digit_prefixes("44 20 7946") == ["44207946", "5544207946"]


@pytest.mark.django_db
def test_a_phone_search_no_number_can_match_finds_nothing(tenant):
    from crm.models import Contact
    from crm.segments import search_q

    Contact.objects.create(name="Ana", phone="+5511987654321")
    assert not Contact.objects.filter(search_q("(10) 9876")).exists()
    assert Contact.objects.filter(search_q("(11) 9876")).exists()
