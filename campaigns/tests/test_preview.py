"""The phone preview: values and fallbacks, WhatsApp formatting, and the SMS counter."""

from __future__ import annotations

import pytest

from campaigns import preview


class FakeContact:
    def __init__(self, name="", phone="+5511987654321", email="", custom_fields=None):
        self.name, self.phone, self.email, self.custom_fields = name, phone, email, custom_fields or {}


COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Oferta para {{1}}", "example": {"header_text": ["Ana"]}},
    {"type": "BODY", "text": "Olá {{1}}, frete grátis em {{2}}!", "example": {"body_text": [["Ana", "Recife"]]}},
    {"type": "FOOTER", "text": "Responda SAIR"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Ver", "url": "https://loja.com.br/{{1}}", "example": ["junho"]},
            {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+551130000000"},
            {"type": "QUICK_REPLY", "text": "Quero"},
        ],
    },
]
MAPPING = {
    "1": {"source": "contact.first_name", "fallback": "cliente"},
    "2": {"source": "field.cidade", "fallback": "todo o Brasil"},
    "header.1": {"source": "contact.first_name", "fallback": "você"},
    "button.0.1": {"source": "static", "value": "vip"},
}


def test_a_contacts_values_and_the_fallbacks_of_what_is_empty():
    values = preview.contact_values(FakeContact(name="Maria Souza", custom_fields={"cidade": ""}))
    shown = preview.build(components=COMPONENTS, mapping=MAPPING, values=values)
    assert shown.header_text == "Oferta para Maria"
    assert shown.body_text == "Olá Maria, frete grátis em todo o Brasil!"
    assert shown.footer == "Responda SAIR"
    assert [(b.kind, b.text, b.target) for b in shown.buttons] == [
        ("URL", "Ver", "https://loja.com.br/vip"),
        ("PHONE_NUMBER", "Ligar", "+551130000000"),
        ("QUICK_REPLY", "Quero", ""),
    ]


def test_a_contact_without_a_name_gets_the_fallback():
    shown = preview.build(components=COMPONENTS, mapping=MAPPING, values=preview.contact_values(FakeContact()))
    assert shown.body_text.startswith("Olá cliente,")


def test_without_a_contact_the_examples_show():
    shown = preview.build(components=COMPONENTS, mapping=MAPPING, values=None)
    assert shown.body_text == "Olá Ana, frete grátis em Recife!"
    assert shown.header_text == "Oferta para Ana"


def test_an_unmapped_variable_shows_itself():
    shown = preview.build(components=[{"type": "BODY", "text": "Oi {{1}} e {{2}}"}], mapping={}, values={})
    assert shown.body_text == "Oi {{1}} e {{2}}"


def test_whatsapp_formatting_is_drawn_and_html_escaped():
    html = str(preview.whatsapp_html("*Oferta* _hoje_ ~R$ 10~ ```code``` <b>x</b>\nsegunda linha"))
    assert "<strong>Oferta</strong>" in html and "<em>hoje</em>" in html and "<s>R$ 10</s>" in html
    assert '<code class="font-mono">code</code>' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<br>" in html
    # a lone star or underscore is just a character
    assert str(preview.whatsapp_html("2 * 3 = 6 e nome_do_arquivo")) == "2 * 3 = 6 e nome_do_arquivo"


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "per"),
    [
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 153),
        ("a" * 306, "GSM-7", 2, 153),
        ("a" * 307, "GSM-7", 3, 153),
        ("{" * 80, "GSM-7", 1, 160),  # extension characters take two septets
        ("{" * 81, "GSM-7", 2, 153),
        ("ã" * 70, "UCS-2", 1, 70),
        ("ã" * 71, "UCS-2", 2, 67),
        ("😀" * 35, "UCS-2", 1, 70),  # outside the BMP: two units each
        ("😀" * 36, "UCS-2", 2, 67),
        ("Olá, é você?", "UCS-2", 1, 70),  # "á" and "ê" are outside GSM 03.38 ("é" is not)
        ("Você é demais, até amanhã", "UCS-2", 1, 70),
        ("Pedido confirmado: entrega é amanha", "GSM-7", 1, 160),
    ],
)
def test_sms_counter(text, encoding, segments, per):
    info = preview.sms_info(text)
    assert (info.encoding, info.segments, info.per_segment) == (encoding, segments, per)
