"""Meta's create rules, checked before submitting, with the messages the form shows."""

from __future__ import annotations

import pytest

from campaigns import template_rules as r


def _problems(body: str = "Olá {{1}}, seu pedido {{2}} saiu para entrega hoje.", *, fmt="POSITIONAL", **parts):
    components = [{"type": "BODY", "text": body}]
    examples = parts.pop("examples", {"1": "Ana", "2": "123", "first_name": "Ana", "pedido": "9"})
    if "header" in parts:
        components.insert(0, parts.pop("header"))
    if "footer" in parts:
        components.append({"type": "FOOTER", "text": parts.pop("footer")})
    if "buttons" in parts:
        components.append({"type": "BUTTONS", "buttons": parts.pop("buttons")})
    components = r.with_examples(components, fmt, examples)
    return r.template_problems(
        name=parts.pop("name", "pedido_enviado"),
        category=parts.pop("category", "UTILITY"),
        parameter_format=fmt,
        components=components,
        local=parts.pop("local", False),
        has_sample=parts.pop("has_sample", False),
    )


def _messages(problems):
    return [p.message for p in problems]


def test_a_good_template_has_no_problem():
    assert _problems() == []
    assert _problems("Oi {{first_name}}, seu pedido {{pedido}} está pronto.", fmt="NAMED") == []


@pytest.mark.parametrize("name", ["Promo", "promo junho", "promo-junho", "promoção"])
def test_name_format(name):
    assert _messages(_problems(name=name)) == [r.ERR_NAME_FORMAT]


def test_name_required_and_length():
    assert _messages(_problems(name="")) == [r.ERR_NAME_REQUIRED]
    assert _messages(_problems(name="a" * 513)) == [r.ERR_NAME_LENGTH]


@pytest.mark.parametrize(
    "body", ["{{1}}, seu pedido saiu para entrega hoje mesmo.", "Seu pedido saiu para entrega hoje, {{1}}"]
)
def test_variable_at_the_start_or_end(body):
    assert r.ERR_VARIABLE_EDGE in _messages(_problems(body))


def test_a_variable_followed_by_punctuation_is_not_at_the_end():
    assert _problems("Seu pedido saiu para entrega hoje, {{1}}.") == []


def test_variables_side_by_side():
    assert r.ERR_VARIABLE_ADJACENT in _messages(_problems("Olá {{1}} {{2}} seu pedido saiu para entrega."))


def test_too_many_variables_for_the_length():
    assert r.ERR_VARIABLE_RATIO in _messages(_problems("Oi {{1}}, {{2}} e {{3}} ok."))


def test_body_length_and_required():
    assert _messages(_problems("")) == [r.ERR_BODY_REQUIRED]
    long = "Olá, " + "a" * 1100
    assert _messages(_problems(long)) == [r.ERR_BODY_LENGTH % {"max": 1024, "count": len(long)}]


def test_local_templates_allow_4096_characters_and_variables_anywhere():
    body = "{{1}} " + "b" * 3000
    assert _problems(body, local=True) == []
    assert _messages(_problems("x" * 4097, local=True)) == [r.ERR_BODY_LENGTH % {"max": 4096, "count": 4097}]


def test_local_templates_have_only_a_text():
    problems = _problems(local=True, footer="rodapé")
    assert _messages(problems) == [r.ERR_LOCAL_PARTS]


def test_numbered_variables_go_in_order():
    problems = _problems("Olá {{1}}, seu pedido {{3}} saiu para entrega hoje.")
    assert _messages(problems) == [r.ERR_VARIABLE_SEQUENCE % {"missing": "{{2}}"}]


def test_mixed_or_wrong_format_of_variables():
    assert r.ERR_VARIABLE_MIXED in _messages(_problems("Olá {{1}}, seu pedido {{pedido}} saiu para entrega."))
    assert r.ERR_VARIABLE_FORMAT in _messages(_problems(fmt="NAMED"))


def test_bad_variable_syntax():
    problems = _problems("Olá {{Primeiro Nome}}, seu pedido saiu para entrega.", fmt="NAMED")
    assert _messages(problems) == [r.ERR_VARIABLE_SYNTAX % {"variable": "{{Primeiro Nome}}"}]


def test_every_variable_needs_an_example():
    problems = _problems(examples={"1": "Ana", "2": ""})
    assert [p.field for p in problems] == ["example.2"]
    assert problems[0].message == r.ERR_EXAMPLE_MISSING % {"variable": "{{2}}"}


def test_header_rules():
    long = {"type": "HEADER", "format": "TEXT", "text": "x" * 61}
    assert _messages(_problems(header=long)) == [r.ERR_HEADER_LENGTH % {"count": 61}]
    emoji = {"type": "HEADER", "format": "TEXT", "text": "Promoção 🔥"}
    assert _messages(_problems(header=emoji)) == [r.ERR_HEADER_FORMAT]
    bold = {"type": "HEADER", "format": "TEXT", "text": "*Promoção*"}
    assert _messages(_problems(header=bold)) == [r.ERR_HEADER_FORMAT]
    two = {"type": "HEADER", "format": "TEXT", "text": "Oi {{1}} e {{2}}"}
    assert r.ERR_HEADER_VARIABLES in _messages(_problems(header=two, examples={"1": "a", "2": "b", "header.1": "x"}))
    image = {"type": "HEADER", "format": "IMAGE"}
    assert _messages(_problems(header=image)) == [r.ERR_HEADER_SAMPLE]
    assert _problems(header=image, has_sample=True) == []


def test_header_variable_needs_its_example():
    header = {"type": "HEADER", "format": "TEXT", "text": "Oferta para {{1}}"}
    problems = _problems(header=header)
    assert [p.field for p in problems] == ["example.header.1"]
    assert _problems(header=header, examples={"1": "Ana", "2": "9", "header.1": "Ana"}) == []


def test_footer_rules():
    assert _messages(_problems(footer="x" * 61)) == [r.ERR_FOOTER_LENGTH % {"count": 61}]
    assert _messages(_problems(footer="Loja {{1}}")) == [r.ERR_FOOTER_VARIABLES]


def test_button_rules():
    quick = {"type": "QUICK_REPLY", "text": "Quero"}
    url = {"type": "URL", "text": "Ver", "url": "https://loja.com.br/ofertas"}
    phone = {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+55 11 3000-0000"}
    assert _problems(buttons=[quick, quick, url, phone]) == []
    assert _messages(_problems(buttons=[quick] * 11)) == [r.ERR_BUTTONS_TOO_MANY]
    assert r.ERR_BUTTONS_GROUPED in _messages(_problems(buttons=[quick, url, quick]))
    assert r.ERR_BUTTON_URL_COUNT in _messages(_problems(buttons=[url, url, url]))
    assert r.ERR_BUTTON_PHONE_COUNT in _messages(_problems(buttons=[phone, phone]))
    assert _messages(_problems(buttons=[{"type": "QUICK_REPLY", "text": "x" * 26}])) == [r.ERR_BUTTON_TEXT % {"n": 1}]
    bad_url = {"type": "URL", "text": "Ver", "url": "loja.com.br"}
    assert _messages(_problems(buttons=[bad_url])) == [r.ERR_BUTTON_URL % {"n": 1}]
    middle = {"type": "URL", "text": "Ver", "url": "https://loja.com.br/{{1}}/ofertas"}
    assert _messages(_problems(buttons=[middle])) == [r.ERR_BUTTON_URL_VARIABLE % {"n": 1}]
    suffix = {"type": "URL", "text": "Ver", "url": "https://loja.com.br/{{1}}"}
    assert [p.field for p in _problems(buttons=[suffix])] == ["example.button.0"]
    assert _problems(buttons=[suffix], examples={"1": "a", "2": "b", "button.0": "x"}) == []
    assert _messages(_problems(buttons=[{**phone, "phone_number": "123"}])) == [r.ERR_BUTTON_PHONE % {"n": 1}]


def test_authentication_templates_are_made_in_whatsapp_manager():
    assert _messages(_problems(category="AUTHENTICATION")) == [r.ERR_AUTHENTICATION]


def test_examples_round_trip():
    components = r.with_examples(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Oi {{1}}"},
            {"type": "BODY", "text": "Olá {{1}}, pedido {{2}} pronto para retirar."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Ver", "url": "https://x.com/{{1}}"}]},
        ],
        "POSITIONAL",
        {"1": "Ana", "2": "77", "header.1": "Bia", "button.0": "abc"},
    )
    assert components[0]["example"] == {"header_text": ["Bia"]}
    assert components[1]["example"] == {"body_text": [["Ana", "77"]]}
    assert r.examples_of(components) == {"1": "Ana", "2": "77", "header.1": "Bia", "button.0": "abc"}
    assert r.template_variable_keys(components) == ["header.1", "1", "2", "button.0.1"]


def test_guess_format():
    assert r.guess_format(["Oi {{1}}"]) == "POSITIONAL"
    assert r.guess_format(["Oi {{nome}}"]) == "NAMED"
