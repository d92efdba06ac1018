"""Forms of the CRM pages (the API uses the same ``crm.validation`` underneath)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.fields import ERR_FIELD_CHOICES_MISSING, ERR_FIELD_KEY, ERR_FIELD_KEY_TAKEN, KEY_RE
from crm.models import ConsentStatus, CustomFieldDefinition, ExistingPolicy, FieldType

ERR_KEYWORDS_EMPTY = _("List at least one keyword.")


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, help_text=_("Any format: (11) 98765-4321, +55 11 9…"))
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    owner_id = forms.TypedChoiceField(
        label=pgettext_lazy("contact", "Owner"), required=False, coerce=int, empty_value=None
    )
    consent_status = forms.ChoiceField(label=_("Marketing consent"), choices=ConsentStatus.choices)

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_id"].choices = [("", _("Nobody"))] + [(u.pk, u.display_name) for u in members]


class CustomFieldForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=80)
    key = forms.CharField(
        label=_("Key"), max_length=48, help_text=_("Used in imports, the API and message variables. Cannot change.")
    )
    field_type = forms.ChoiceField(label=_("Type"), choices=FieldType.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        help_text=_("One per line (choice fields only)."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    required = forms.BooleanField(label=_("Required"), required=False)

    def __init__(self, *args, instance: CustomFieldDefinition | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None:
            self.fields["key"].disabled = True
            self.fields["field_type"].disabled = True

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if self.instance is not None:
            return self.instance.key
        if not KEY_RE.match(key):
            raise forms.ValidationError(ERR_FIELD_KEY)
        if CustomFieldDefinition.objects.filter(key=key).exists():
            raise forms.ValidationError(ERR_FIELD_KEY_TAKEN)
        return key

    def clean(self):
        data = super().clean()
        raw = data.get("choices") or ""
        choices = list(dict.fromkeys(c.strip()[:80] for c in raw.splitlines() if c.strip()))
        field_type = self.instance.field_type if self.instance else data.get("field_type")
        if field_type == FieldType.CHOICE and not choices:
            self.add_error("choices", ERR_FIELD_CHOICES_MISSING)
        data["choices"] = choices if field_type == FieldType.CHOICE else []
        return data


class OptOutSettingsForm(forms.Form):
    keywords = forms.CharField(
        label=_("Opt-out keywords"),
        help_text=_("One per line. A message that is exactly one of these words opts the contact out."),
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    reply = forms.CharField(
        label=_("Reply sent after an opt-out"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_keywords(self):
        words = list(dict.fromkeys(w.strip()[:64] for w in self.cleaned_data["keywords"].splitlines() if w.strip()))
        if not words:
            raise forms.ValidationError(ERR_KEYWORDS_EMPTY)
        return words


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("Spreadsheet (CSV or XLSX)"))


class ImportStartForm(forms.Form):
    existing = forms.ChoiceField(
        label=_("Contacts that already exist"), choices=ExistingPolicy.choices, initial=ExistingPolicy.UPDATE
    )
    tags = forms.CharField(label=_("Tags to apply"), required=False, help_text=_("Separated by commas."))
    contact_list = forms.TypedChoiceField(label=_("Add to list"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, lists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].choices = [("", _("No list"))] + [(lst.pk, lst.name) for lst in lists]


class NameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
