"""Forms of the cadence pages: the cadence's settings and each kind of step. The forms parse;
the services validate and say what is wrong (one wording, shared with the API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cadences.models import EnrolMode, Reenrol, ReplyExit, StepKind

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]
UNITS = [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days")), ("business_days", _("business days"))]
CONDITIONS = [
    ("replied", _("Replied since the previous message")),
    ("read_last", _("Read the last message")),
    ("has_tag", _("Has the tag")),
    ("lacks_tag", _("Does not have the tag")),
    ("field_equals", _("A custom field equals")),
]
ACTIONS = [
    ("add_tag", _("Add a tag")),
    ("remove_tag", _("Remove a tag")),
    ("set_owner", _("Set the owner")),
    ("assign_conversation", _("Assign the conversation")),
    ("add_note", _("Add a note")),
    ("notify_agent", _("Notify an agent")),
    ("kanban_move", _("Move the contact's card to a stage")),
]


def kanban_stage_choices() -> list[tuple[str, list[tuple[int, str]]]]:
    """The Kanban board's stages, grouped by pipeline (the "move the card" action, the goal)."""
    from kanban.models import Pipeline

    return [(p.name, [(s.pk, s.name) for s in p.stages.all()]) for p in Pipeline.objects.prefetch_related("stages")]


def _dates(text: str) -> list[dt.date]:
    out = []
    for part in (text or "").replace(";", ",").replace("\n", ",").split(","):
        part = part.strip()
        if part:
            try:
                out.append(dt.date.fromisoformat(part))
            except ValueError:
                raise forms.ValidationError(_("Write dates as YYYY-MM-DD, separated by commas.")) from None
    return sorted(set(out))


class CadenceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    channel: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Sending channel"), queryset=None)
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Send on"), choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    window_start = forms.TimeField(
        label=_("Sending starts at"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    window_end = forms.TimeField(
        label=_("Sending stops at"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    national_holidays = forms.BooleanField(label=_("Skip Brazil's national holidays"), required=False)
    holidays_added = forms.CharField(
        label=_("Company holidays (YYYY-MM-DD, comma separated)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    holidays_removed = forms.CharField(
        label=_("National holidays the company works"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    exit_on_reply = forms.ChoiceField(label=_("Stop on reply"), choices=ReplyExit.choices)
    exit_on_failure = forms.BooleanField(label=_("Stop on a permanent delivery failure"), required=False)
    goal_tag_id = forms.TypedChoiceField(
        label=_("Goal: stop when the contact gets the tag"), coerce=int, required=False, empty_value=None
    )
    goal_stage = forms.TypedChoiceField(
        label=_("Goal: stop when the contact's card reaches the stage"), coerce=int, required=False, empty_value=None
    )
    reenrol = forms.ChoiceField(label=_("Re-enrolment"), choices=Reenrol.choices)
    reenrol_after_days = forms.IntegerField(label=_("Re-enrol after (days)"), required=False, min_value=1)
    enrol_mode = forms.ChoiceField(label=_("Enrolment"), choices=EnrolMode.choices)
    segment: forms.ModelChoiceField = forms.ModelChoiceField(label=_("Segment"), queryset=None, required=False)
    trigger_tag_id = forms.TypedChoiceField(
        label=_("Trigger: when a tag is added"), coerce=int, required=False, empty_value=None
    )
    trigger_keyword = forms.CharField(
        label=_("Trigger: an inbound message with the word"), max_length=64, required=False
    )
    trigger_channel: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Trigger: a new conversation on"), queryset=None, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any):
        from crm.models import Segment, Tag
        from inbox.models import Channel

        super().__init__(*args, **kwargs)
        channels = Channel.objects.filter(is_active=True).order_by("name")
        self.fields["channel"].queryset = channels  # type: ignore[attr-defined]
        self.fields["trigger_channel"].queryset = channels  # type: ignore[attr-defined]
        self.fields["segment"].queryset = Segment.objects.order_by("name")  # type: ignore[attr-defined]
        tags = [("", "—"), *((t.pk, t.name) for t in Tag.objects.order_by("name"))]
        self.fields["goal_tag_id"].choices = tags  # type: ignore[attr-defined]
        self.fields["trigger_tag_id"].choices = tags  # type: ignore[attr-defined]
        self.fields["goal_stage"].choices = [("", "—"), *kanban_stage_choices()]  # type: ignore[attr-defined]

    def clean_holidays_added(self):
        return _dates(self.cleaned_data.get("holidays_added", ""))

    def clean_holidays_removed(self):
        return _dates(self.cleaned_data.get("holidays_removed", ""))

    @classmethod
    def initial_for(cls, cadence) -> dict[str, Any]:
        return {
            "name": cadence.name,
            "description": cadence.description,
            "channel": cadence.channel_id,
            "weekdays": list(cadence.weekdays),
            "window_start": cadence.window_start,
            "window_end": cadence.window_end,
            "national_holidays": cadence.national_holidays,
            "holidays_added": ", ".join(d.isoformat() for d in cadence.holidays_added),
            "holidays_removed": ", ".join(d.isoformat() for d in cadence.holidays_removed),
            "exit_on_reply": cadence.exit_on_reply,
            "exit_on_failure": cadence.exit_on_failure,
            "goal_tag_id": cadence.goal_tag_id,
            "goal_stage": (cadence.goal or {}).get("kanban_stage", {}).get("stage_id"),
            "reenrol": cadence.reenrol,
            "reenrol_after_days": cadence.reenrol_after_days,
            "enrol_mode": cadence.enrol_mode,
            "segment": cadence.segment_id,
            "trigger_tag_id": cadence.trigger_tag_id,
            "trigger_keyword": cadence.trigger_keyword,
            "trigger_channel": cadence.trigger_channel_id,
        }


def step_config_from(kind: str, post) -> dict[str, Any]:
    """The step's config from the builder's form fields (the services validate it)."""
    if kind == StepKind.SEND:
        return {"template": post.get("template") or None, "body": post.get("body", "")}
    if kind == StepKind.WAIT:
        return {"amount": post.get("amount"), "unit": post.get("unit"), "at": post.get("at", "")}
    if kind == StepKind.BRANCH:
        return {
            "condition": post.get("condition"),
            "tag_id": post.get("tag_id"),
            "field": post.get("field"),
            "value": post.get("value", ""),
            "then": post.get("then") or "next",
            "else": post.get("else") or "next",
        }
    if kind == StepKind.ACTION:
        return {
            "action": post.get("action"),
            "tag_id": post.get("tag_id"),
            "user_id": post.get("user_id"),
            "text": post.get("text", ""),
            "stage_id": post.get("stage_id"),
        }
    return {}
