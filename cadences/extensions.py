"""Where other apps plug into cadences without cadences importing them (the Kanban board will).

- ``register_action(name, Action(clean=..., run=..., label=...))``: a step action (``"kanban_move"``:
  move the contact's card to a stage). ``clean(config) -> dict`` validates the step's config
  (raise ``ValidationError``); ``run(contact_ids, config)`` does it for a batch of contacts,
  set-based, inside the tick's transaction.
- ``register_goal(name, Goal(reached=...))``: an exit goal (``"kanban_stage"``: a card reached a
  stage). ``reached(cadence_id, config, contact_ids) -> set[int]`` names the contacts of the
  given live enrolments that reached it; the tick exits them with reason ``goal``.

An app registers in its ``AppConfig.ready()``; nothing registered costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Action:
    clean: Callable[[dict[str, Any]], dict[str, Any]]
    run: Callable[[list[int], dict[str, Any]], None]
    label: Any = ""


@dataclass(frozen=True)
class Goal:
    reached: Callable[[int, dict[str, Any], list[int]], set[int]]
    label: Any = ""


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
