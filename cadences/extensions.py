"""Step actions and exit goals beyond the built-in ones.

- ``register_action(name, Action(clean=..., run=..., label=...))``: a step action.
  ``clean(config) -> dict`` validates the step's config (raise ``ValidationError``);
  ``run(contact_ids, config)`` does it for a batch of contacts, set-based, inside the tick's
  transaction.
- ``register_goal(name, Goal(reached=..., clean=...))``: an exit goal, kept in
  ``Cadence.goal[name]``. ``reached(cadence_id, config, contact_ids) -> set[int]`` names the
  contacts of the given live enrolments that reached it; the tick exits them with reason
  ``goal``.

The Kanban board's "move the contact's card to a stage" (action ``kanban_move``) and "the card
reached a stage" (goal ``kanban_stage``) are defined here, by cadences: the import contract puts
``cadences`` above ``kanban`` (cadences may import kanban, never the other way round), so the
board cannot register itself; ``register_kanban()`` runs in ``CadencesConfig.ready``. An app
above cadences would register its own in its ``AppConfig.ready()``; nothing registered costs
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Action:
    clean: Callable[[dict[str, Any]], dict[str, Any]]
    run: Callable[[list[int], dict[str, Any]], None]
    label: Any = ""


@dataclass(frozen=True)
class Goal:
    reached: Callable[[int, dict[str, Any], list[int]], set[int]]
    label: Any = ""
    clean: Callable[[Any], dict[str, Any]] | None = None


_actions: dict[str, Action] = {}
_goals: dict[str, Goal] = {}


def register_action(name: str, action: Action) -> None:
    _actions[name] = action


def register_goal(name: str, goal: Goal) -> None:
    _goals[name] = goal


def actions() -> dict[str, Action]:
    return dict(_actions)


def goals() -> dict[str, Goal]:
    return dict(_goals)


# --- the Kanban board --------------------------------------------------------------------------

KANBAN_MOVE = "kanban_move"
KANBAN_STAGE = "kanban_stage"
ERR_KANBAN_STAGE = _("Choose a stage of a pipeline.")
ERR_KANBAN_REASON = _("Moving to a won or lost stage needs a reason (the text).")


def _kanban_stage(raw: Any):
    from kanban.models import Stage

    try:
        stage_id = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(ERR_KANBAN_STAGE) from None
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id).first() if 0 < stage_id < 2**63 else None
    if stage is None:
        raise ValidationError(ERR_KANBAN_STAGE)
    return stage


def kanban_move_clean(config: dict[str, Any]) -> dict[str, Any]:
    from kanban.models import StageKind

    stage = _kanban_stage(config.get("stage_id"))
    text = str(config.get("text") or "").strip()[:500]
    if stage.kind != StageKind.OPEN and not text:
        raise ValidationError(ERR_KANBAN_REASON)
    return {"action": KANBAN_MOVE, "stage_id": stage.pk, "text": text}


def kanban_move_run(contact_ids: list[int], config: dict[str, Any]) -> None:
    """The contacts' cards in the stage's pipeline go to the stage (history "by a cadence",
    the contacts' timeline, the boards' live events); contacts without a card there are left
    alone. A stage deleted since the step was saved moves nothing."""
    from kanban.models import ActorKind, Stage
    from kanban.services import cards_move_for_contacts

    stage_id = config.get("stage_id")
    stage = Stage.objects.select_related("pipeline").filter(pk=stage_id).first() if stage_id else None
    if stage is None:
        return
    cards_move_for_contacts(
        contact_ids=contact_ids, stage=stage, actor=ActorKind.CADENCE, reason=config.get("text") or ""
    )


def kanban_stage_reached(cadence_id: int, config: dict[str, Any], contact_ids: list[int]) -> set[int]:
    from kanban.models import Card

    stage_id = config.get("stage_id")
    if not stage_id:
        return set()
    return set(Card.objects.filter(stage_id=stage_id, contact_id__in=contact_ids).values_list("contact_id", flat=True))


def kanban_stage_clean(raw: Any) -> dict[str, Any]:
    """The goal's config from a stage id (empty: no goal)."""
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, dict):
        raw = raw.get("stage_id")
    return {"stage_id": _kanban_stage(raw).pk}


def register_kanban() -> None:
    register_action(
        KANBAN_MOVE,
        Action(clean=kanban_move_clean, run=kanban_move_run, label=_("Move the contact's card to a stage")),
    )
    register_goal(
        KANBAN_STAGE,
        Goal(reached=kanban_stage_reached, clean=kanban_stage_clean, label=_("The contact's card reached a stage")),
    )
