"""Forms of the Kanban pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from kanban.models import CardField, Pipeline, Stage, StageKind


class PipelineForm(forms.ModelForm):
    card_fields = forms.MultipleChoiceField(
        label=_("Fields shown on cards"), choices=CardField.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    won_reasons = forms.CharField(
        label=_("Won reasons (one a line)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    lost_reasons = forms.CharField(
        label=_("Lost reasons (one a line)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    class Meta:
        model = Pipeline
        fields = [
            "name",
            "currency",
            "stalled_after_days",
            "auto_create_cards",
            "ai_enabled",
            "ai_threshold",
            "ai_backward_allowed",
            "ai_override_minutes",
            "card_fields",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The tile can show any of the CRM's custom fields too (``cf:<key>``, kanban.tiles).
        from crm.models import CustomFieldDefinition
        from kanban.tiles import CUSTOM_PREFIX

        custom = [(f"{CUSTOM_PREFIX}{d.key}", d.label) for d in CustomFieldDefinition.objects.all()]
        self.fields["card_fields"].choices = [*CardField.choices, *custom]  # type: ignore[attr-defined]

    def reasons(self, kind: str) -> list[str]:
        raw = self.cleaned_data.get(f"{kind}_reasons") or ""
        return [line.strip()[:120] for line in raw.splitlines() if line.strip()][:30]


class StageForm(forms.ModelForm):
    class Meta:
        model = Stage
        fields = ["name", "color", "kind", "win_probability", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class CardForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    stage = forms.ModelChoiceField(label=_("Stage"), queryset=Stage.objects.none(), required=False)
    value = forms.DecimalField(label=_("Value"), max_digits=14, decimal_places=2, min_value=0, required=False)
    expected_close = forms.DateField(
        label=_("Expected close date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, pipeline: Pipeline, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = pipeline.stages.filter(kind=StageKind.OPEN)  # type: ignore[attr-defined]


class MoveForm(forms.Form):
    stage = forms.IntegerField(min_value=1)
    after = forms.IntegerField(min_value=1, required=False)
    before = forms.IntegerField(min_value=1, required=False)
    reason = forms.CharField(max_length=500, required=False)
