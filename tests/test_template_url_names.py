"""Every URL name a template reverses with ``{% url 'literal' %}`` exists in the URL
configuration it is served from (the company's or the public site's). A wrong name is a 500
only when that branch of the template renders (a recipient drawer's conversation link once
was), so it is checked here for every template, rendered or not."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.urls import get_resolver

ROOT = Path(settings.BASE_DIR)
URL_TAG = re.compile(r"""{%\s*url\s+(['"])([^'"]+)\1""")
COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.DOTALL)


def _names(resolver, prefix: str = "") -> set[str]:
    names = {prefix + key for key in resolver.reverse_dict if isinstance(key, str)}
    for namespace, (_, sub) in resolver.namespace_dict.items():
        names |= _names(sub, f"{prefix}{namespace}:")
    return names


def _templates():
    for path in ROOT.rglob("templates/**/*.html"):
        if not {".venv", "node_modules", ".tools"} & set(path.parts):
            yield path


def _known() -> set[str]:
    return _names(get_resolver(settings.ROOT_URLCONF)) | _names(get_resolver(settings.PUBLIC_SCHEMA_URLCONF))


def _unknown_names(text: str, known: set[str]) -> list[str]:
    return [m.group(2) for m in URL_TAG.finditer(COMMENTS.sub("", text)) if m.group(2) not in known]


def test_every_literal_url_name_in_a_template_exists():
    known = _known()
    missing = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _templates()
        for name in _unknown_names(path.read_text(encoding="utf-8"), known)
    ]
    assert missing == []


def test_the_check_sees_the_templates_and_a_wrong_name():
    assert len(list(_templates())) > 50
    text = (
        "{% url 'inbox:conversation' 1 %} {% url \"inbox-conversation\" 1 %}"
        "{% comment %}{% url 'x' %}{% endcomment %}{# {% url 'y' %} #}"
    )
    assert _unknown_names(text, _known()) == ["inbox-conversation"]
