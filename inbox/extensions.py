"""Places in the inbox's pages that upper apps fill (the AI app's section of the conversation
panel, the campaigns app's template picker in the composer), registered from their
``AppConfig.ready()`` so the inbox imports none of them.

A panel section is a callable ``(request, conversation) -> str`` returning HTML (already
escaped, e.g. from ``render_to_string``); the panel shows the sections in registration order.
A composer section is a callable ``(request, conversation, window_open) -> str`` shown in the
composer (outside the 24-hour window it is what the agent can still send).
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.safestring import SafeString, mark_safe

PanelSection = Callable[..., str]
_panel_sections: dict[str, PanelSection] = {}


def register_panel_section(key: str, render: PanelSection) -> None:
    _panel_sections[key] = render


def panel_sections(request, conversation) -> list[SafeString]:
    return [mark_safe(render(request, conversation)) for render in _panel_sections.values()]  # noqa: S308 - rendered templates


ComposerSection = Callable[..., str]
_composer_sections: dict[str, ComposerSection] = {}


def register_composer_section(key: str, render: ComposerSection) -> None:
    _composer_sections[key] = render


def composer_sections(request, conversation, *, window_open: bool) -> list[SafeString]:
    return [mark_safe(render(request, conversation, window_open)) for render in _composer_sections.values()]  # noqa: S308 - rendered templates
