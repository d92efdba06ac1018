"""Forms of the AI pages: they parse input; services validate and write (one message per rule)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ai_personas import tools
from ai_personas.models import KnowledgeBase, Language, Schedule

LANGUAGES = [("pt-br", _("Portuguese (Brazil)")), ("en", _("English")), ("es", _("Spanish"))]
DAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class ProviderForm(forms.Form):
    base_url = forms.CharField(
        label=_("Base URL"),
        required=False,
        help_text=_(
            "An OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or a local vLLM/Ollama. Empty: the installation's."
        ),
    )
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted. Leave empty to keep the current key."),
    )
    chat_model = forms.CharField(label=_("Chat model"), required=False, max_length=100)
    embedding_model = forms.CharField(
        label=_("Embedding model"),
        required=False,
        max_length=100,
        help_text=_(
            '"local" uses the offline embedder shipped with the product. Changing it re-indexes every document.'
        ),
    )
    monthly_token_budget = forms.IntegerField(
        label=_("Monthly token budget"),
        required=False,
        min_value=0,
        help_text=_("0: no limit. Empty: the installation's."),
    )


class KnowledgeBaseForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False, max_length=300)
    language = forms.ChoiceField(
        label=_("Language of the documents"), choices=Language.choices, initial=Language.PORTUGUESE
    )
    min_score = forms.FloatField(
        label=_("Minimum similarity"),
        initial=0.35,
        min_value=0,
        max_value=1,
        help_text=_("Passages found only by meaning and less similar than this are not used (0 to 1)."),
    )


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("PDF, DOCX, TXT, Markdown, CSV or HTML, up to 20 MB."))
    title = forms.CharField(label=_("Title"), required=False, max_length=200)


class QAForm(forms.Form):
    question = forms.CharField(label=_("Question"), widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.CharField(label=_("Answer"), widget=forms.Textarea(attrs={"rows": 4}))


class PersonaForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    avatar = forms.CharField(
        label=_("Avatar"), required=False, max_length=8, help_text=_("An emoji or up to two letters.")
    )
    instructions = forms.CharField(
        label=_("Instructions"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text=_("Role, tone, what it may and may not do. Customers never see this."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)
    model = forms.CharField(
        label=_("Chat model"), required=False, max_length=100, help_text=_("Empty: the company's default.")
    )
    temperature = forms.FloatField(label=_("Temperature"), initial=0.3, min_value=0, max_value=2)
    max_reply_chars = forms.IntegerField(label=_("Maximum reply length (characters)"), initial=600)
    knowledge_bases = forms.ModelMultipleChoiceField(
        label=_("Knowledge bases"),
        queryset=KnowledgeBase.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every channel."),
    )
    schedule = forms.ChoiceField(label=_("When it answers"), choices=Schedule.choices)
    hours_days = forms.TypedMultipleChoiceField(
        label=_("Business days"), choices=DAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    hours_start = forms.CharField(
        label=_("Opens at"), required=False, initial="09:00", widget=forms.TimeInput(attrs={"type": "time"})
    )
    hours_end = forms.CharField(
        label=_("Closes at"), required=False, initial="18:00", widget=forms.TimeInput(attrs={"type": "time"})
    )
    trigger_keywords = forms.CharField(
        label=_("Keywords that call the persona"), required=False, help_text=_("Separated by commas.")
    )
    handoff_keywords = forms.CharField(
        label=_("Keywords that call a person"),
        required=False,
        help_text=_('Separated by commas. Empty: "atendente", "humano", "falar com alguém" and similar.'),
    )
    max_turns = forms.IntegerField(label=_("Replies before handing off"), initial=8, min_value=0, max_value=100)
    handoff_on_negative = forms.BooleanField(
        label=_("Hand off when the customer seems upset"), required=False, initial=True
    )
    tools = forms.MultipleChoiceField(label=_("Tools"), required=False, widget=forms.CheckboxSelectMultiple)
    debounce_seconds = forms.IntegerField(
        label=_("Wait for more messages (seconds)"),
        initial=6,
        min_value=0,
        max_value=120,
        help_text=_("Customers write in bursts: the reply waits this long after the last message."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from inbox.models import Channel

        self.fields["knowledge_bases"].queryset = KnowledgeBase.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["channels"].choices = [(str(c.pk), c.name) for c in Channel.objects.filter(is_active=True)]  # type: ignore[attr-defined]
        self.fields["tools"].choices = [(t.name, t.label) for t in tools.registered() if not t.always]  # type: ignore[attr-defined]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        days, start, end = data.pop("hours_days"), data.pop("hours_start"), data.pop("hours_end")
        data["business_hours"] = {"days": days, "start": start, "end": end} if days else {}
        data.pop("knowledge_bases")
        data.pop("channels")
        return data


def persona_initial(persona) -> dict:
    hours = persona.business_hours or {}
    return {
        "name": persona.name,
        "avatar": persona.avatar,
        "instructions": persona.instructions,
        "language": persona.language,
        "model": persona.model,
        "temperature": persona.temperature,
        "max_reply_chars": persona.max_reply_chars,
        "knowledge_bases": list(persona.knowledge_bases.values_list("pk", flat=True)),
        "channels": [str(pk) for pk in persona.channels.values_list("pk", flat=True)],
        "schedule": persona.schedule,
        "hours_days": hours.get("days", []),
        "hours_start": hours.get("start", "09:00"),
        "hours_end": hours.get("end", "18:00"),
        "trigger_keywords": ", ".join(persona.trigger_keywords or []),
        "handoff_keywords": ", ".join(persona.handoff_keywords or []),
        "max_turns": persona.max_turns,
        "handoff_on_negative": persona.handoff_on_negative,
        "tools": persona.tools,
        "debounce_seconds": persona.debounce_seconds,
        "is_active": persona.is_active,
    }
