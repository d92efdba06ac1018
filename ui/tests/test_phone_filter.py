"""Phone numbers as people write them: the ``phone`` filter of the kit (``{% load ui %}``)."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from ui.phones import format_phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+5511987654321", "+55 11 98765-4321"),  # a São Paulo mobile (ninth digit)
        ("+552130000000", "+55 21 3000-0000"),  # a Rio landline
        ("5511987654321", "+55 11 98765-4321"),  # as providers send it, without the +
        ("+55 11 3000-0000", "+55 11 3000-0000"),  # already written for people
        ("+12015550123", "+1 201-555-0123"),  # the United States
        ("+447911123456", "+44 7911 123456"),  # the United Kingdom
        ("+351912345678", "+351 912 345 678"),  # Portugal
        ("+5491123456789", "+54 9 11 2345-6789"),  # an Argentine mobile
    ],
)
def test_numbers_are_written_in_their_countrys_international_format(stored, shown):
    assert format_phone(stored) == shown


@pytest.mark.parametrize("value", ["Maria Silva", "", "12345", "11987654321", "+999123456789", "ana@x.com", None])
def test_what_is_not_a_full_number_is_left_as_it_is(value):
    assert format_phone(value) == (value or "")


def test_the_filter_formats_a_phone_and_leaves_a_name_alone():
    template = Template("{% load ui %}{{ a|phone }}|{{ name|default:a|phone }}|{{ b.name|default:b.phone|phone }}")
    html = template.render(
        Context({"a": "+5511987654321", "name": "", "b": {"name": "Ana", "phone": "+5511900000000"}})
    )
    assert html == "+55 11 98765-4321|+55 11 98765-4321|Ana"
