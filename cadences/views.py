"""Cadence pages: the list, the settings form, the builder (vertical step list, drag or up/down
to reorder, inline editing, the template picker and the phone preview from campaigns, the
schedule preview, per-step figures, the warning before a change reaches running enrolments),
the enrolment list, and enrolling contacts (a segment, or the CRM contact list's selection).

Views check the role and parse the input, then call ``cadences.services``; reads go through
``cadences.selectors``. Viewers read; agents enrol and unenrol; admins build and run cadences.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from cadences import selectors, services
from cadences.forms import ACTIONS, CONDITIONS, UNITS, CadenceForm, kanban_stage_choices, step_config_from
from cadences.models import Cadence, CadenceStatus, CadenceStep, Enrollment, EnrollmentState, EnrolSource, StepKind
from tenants.permissions import role_required
from tenants.roles import Role
from ui.pagination import paginate

MANAGE = Role.ADMIN
ENROL = Role.AGENT

MSG_CREATED = gettext_noop("Cadence created. Add its steps, then activate it.")
MSG_SAVED = gettext_noop("Saved.")
MSG_STEP_SAVED = gettext_noop("Step saved.")
MSG_STEP_REMOVED = gettext_noop("Step removed.")
MSG_ENROLLED = gettext_noop("%(count)s contacts enrolled.")
MSG_UNENROLLED = gettext_noop("Removed from the cadence.")
MSG_STATUS = {
    "draft": gettext_noop("The cadence is back to draft."),
    "active": gettext_noop("The cadence is now active."),
    "paused": gettext_noop("The cadence is paused."),
    "archived": gettext_noop("The cadence is archived."),
}
ERR_CONFIRM = gettext_noop(
    "%(count)s running enrolments have not passed this step yet and will follow the change. Tick the box to confirm."
)
ERR_FIX = gettext_noop("Check the highlighted fields.")
ERR_NOTHING = gettext_noop("Choose a segment or some contacts to enrol.")


def _can(request, role: str) -> bool:
    principal = getattr(request, "principal", None)
    return principal is not None and principal.can(role)


def _cadence(pk: int) -> Cadence:
    return get_object_or_404(Cadence.objects.select_related("channel", "segment"), pk=pk)


def _back(cadence: Cadence, anchor: str = ""):
    response = redirect("cadences:builder", pk=cadence.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


# --- list and settings --------------------------------------------------------------------------


@require_GET
@role_required(Role.VIEWER)
def cadence_list(request):
    from inbox.models import Channel

    status = request.GET.get("status", "")
    page = paginate(request, selectors.cadence_list(status=status if status in CadenceStatus.values else ""))
    context = {
        "page": page,
        "columns": [
            _("Cadence"),
            _("Status"),
            (_("Active"), "text-right"),
            (_("Completed"), "hidden text-right sm:table-cell"),
            (_("Exited"), "hidden text-right sm:table-cell"),
        ],
        "status": status,
        "status_choices": CadenceStatus.choices,
        "can_manage": _can(request, MANAGE),
        "has_channels": Channel.objects.filter(is_active=True).exists(),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "cadences/partials/cadence_table.html", context)
    return render(request, "cadences/cadence_list.html", context)


def _form_kwargs(form: CadenceForm) -> dict:
    data = dict(form.cleaned_data)
    stage = data.pop("goal_stage", None)
    data["goal"] = {"kanban_stage": {"stage_id": stage}} if stage else {}
    return data


@role_required(MANAGE)
def cadence_new(request):
    from tenants.context import current_company

    if request.method != "POST":
        from inbox.models import Channel

        form = CadenceForm(
            initial={
                "channel": Channel.objects.filter(is_active=True).order_by("name").values_list("pk", flat=True).first(),
                "weekdays": [0, 1, 2, 3, 4],
                "window_start": "09:00",
                "window_end": "18:00",
                "national_holidays": True,
                "exit_on_reply": "any",
                "exit_on_failure": True,
                "reenrol": "never",
                "enrol_mode": "manual",
            }
        )
        return render(request, "cadences/cadence_form.html", {"form": form, "cadence": None})
    form = CadenceForm(request.POST)
    if form.is_valid():
        try:
            cadence = services.cadence_create(
                by=request.user,
                time_zone=getattr(current_company(), "time_zone", "") or "America/Sao_Paulo",
                **_form_kwargs(form),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _(MSG_CREATED))
            return redirect("cadences:builder", pk=cadence.pk)
    return render(
        request, "cadences/cadence_form.html", {"form": form, "cadence": None, "form_error": _(ERR_FIX)}, status=400
    )


@role_required(MANAGE)
def cadence_settings(request, pk: int):
    cadence = _cadence(pk)
    if request.method != "POST":
        form = CadenceForm(initial=CadenceForm.initial_for(cadence))
        return render(request, "cadences/cadence_form.html", {"form": form, "cadence": cadence})
    form = CadenceForm(request.POST)
    if form.is_valid():
        try:
            services.cadence_update(cadence=cadence, by=request.user, **_form_kwargs(form))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _(MSG_SAVED))
            return redirect("cadences:builder", pk=cadence.pk)
    return render(
        request, "cadences/cadence_form.html", {"form": form, "cadence": cadence, "form_error": _(ERR_FIX)}, status=400
    )


@require_POST
@role_required(MANAGE)
def cadence_status(request, pk: int):
    cadence = _cadence(pk)
    try:
        cadence = services.cadence_set_status(cadence=cadence, status=request.POST.get("status", ""), by=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return _back(cadence)
    messages.success(request, _(MSG_STATUS.get(cadence.status, MSG_STATUS["active"])))
    return _back(cadence)


# --- the builder ----------------------------------------------------------------------------------


def _example_contact(request):
    from crm.models import Contact

    raw = request.GET.get("contact", "")
    if raw.isdigit():
        contact = Contact.objects.filter(pk=int(raw)).first()
        if contact is not None:
            return contact
    return Contact.objects.order_by("id").first()


def _send_preview(step: CadenceStep, cadence: Cadence, contact, templates: dict):
    from campaigns import preview as phone

    values = phone.contact_values(contact) if contact is not None else None
    sms = cadence.channel.kind == "sms"
    template = templates.get(step.config.get("template"))
    if template is not None:
        components = template.components
        if cadence.channel.kind != "whatsapp_cloud":
            components = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
        return phone.build(components=components, mapping=template.variables or {}, values=values, sms=sms)
    return phone.text_preview(
        text=step.config.get("body", ""), mapping=step.config.get("variables") or {}, values=values, sms=sms
    )


def _builder_context(request, cadence: Cadence, errors: dict | None = None) -> dict:
    from campaigns.selectors import sendable_templates
    from crm.models import Segment, Tag
    from crm.selectors import custom_field_definitions
    from tenants.context import current_company
    from tenants.selectors import company_members

    steps = selectors.cadence_steps(cadence=cadence)
    stats = {row["step"].pk: row for row in selectors.step_stats(cadence=cadence)}
    templates = {t.pk: t for t in sendable_templates(channel=cadence.channel)}
    contact = _example_contact(request)
    preview = selectors.schedule_preview(cadence=cadence, steps=steps)
    when = {row["step"].pk: row["label"] for row in preview}
    reach = services.steps_change_impact(cadence=cadence, positions=[step.position for step in steps])
    impact = {step.pk: reach[step.position] for step in steps if reach[step.position]}
    tag_rows = list(Tag.objects.order_by("name"))
    tags = {t.pk: t.name for t in tag_rows}
    kanban_stages = kanban_stage_choices()
    stage_names = {pk: f"{pipeline} › {name}" for pipeline, choices in kanban_stages for pk, name in choices}
    cards = []
    for step in steps:
        cards.append(
            {
                "step": step,
                "stats": stats.get(step.pk),
                "when": when.get(step.pk, ""),
                "impact": impact.get(step.pk, 0),
                "preview": _send_preview(step, cadence, contact, templates) if step.kind == StepKind.SEND else None,
                "template": templates.get(step.config.get("template")),
                "later": [{"value": f"step:{s.pk}", "n": s.position + 1} for s in steps if s.position > step.position],
                "error": (errors or {}).get(step.pk),
                "summary": _summary(step, templates, tags, stage_names),
            }
        )
    return {
        "cadence": cadence,
        "cards": cards,
        "preview": preview,
        "contact": contact,
        "templates": list(templates.values()),
        "tags": tag_rows,
        "fields": custom_field_definitions(),
        "members": list(company_members(company=current_company()).select_related("user")),
        "kinds": StepKind.choices,
        "units": UNITS,
        "conditions": CONDITIONS,
        "actions": ACTIONS,
        "kanban_stages": kanban_stages,
        "can_manage": _can(request, MANAGE),
        "can_enrol": _can(request, ENROL),
        "segments": Segment.objects.order_by("name"),
        "add_error": (errors or {}).get("add"),
        "statuses": CadenceStatus,
    }


def _summary(step: CadenceStep, templates: dict, tags: dict, stages: dict) -> str:
    """One line under the step's title: its template or text, its wait, its condition, its
    action with the tag or the Kanban stage it names."""
    from cadences.steps import wait_describe

    config = step.config
    if step.kind == StepKind.SEND:
        template = templates.get(config.get("template"))
        return _("Template %(name)s") % {"name": template.name} if template else (config.get("body") or "")[:120]
    if step.kind == StepKind.WAIT:
        return _("Wait %(what)s") % {"what": wait_describe(config)}
    if step.kind == StepKind.BRANCH:
        label = dict(CONDITIONS).get(config.get("condition"), "")
        tag = tags.get(config.get("tag_id"))
        if tag:
            label = f"{label} “{tag}”"
        if config.get("condition") == "field_equals":
            label = f"{label}: {config.get('field')} = “{config.get('value')}”"
        return str(label)
    label = str(dict(ACTIONS).get(config.get("action"), config.get("action", "")))
    named = tags.get(config.get("tag_id")) or stages.get(config.get("stage_id"))
    return f"{label} “{named}”" if named else label


@require_GET
@role_required(Role.VIEWER)
def cadence_builder(request, pk: int):
    cadence = _cadence(pk)
    return render(request, "cadences/cadence_builder.html", _builder_context(request, cadence))


def _builder_error(request, cadence: Cadence, key, message: str):
    context = _builder_context(request, cadence, errors={key: message})
    return render(request, "cadences/cadence_builder.html", context, status=400)


@require_POST
@role_required(MANAGE)
def step_add(request, pk: int):
    cadence = _cadence(pk)
    kind = request.POST.get("kind", "")
    try:
        step = services.step_add(cadence=cadence, kind=kind, config=step_config_from(kind, request.POST))
    except ValidationError as exc:
        return _builder_error(request, cadence, "add", " ".join(exc.messages))
    messages.success(request, _(MSG_STEP_SAVED))
    return _back(cadence, f"step-{step.pk}")


def _confirmed(request, cadence: Cadence, step: CadenceStep) -> str | None:
    """The warning before a change reaches running enrolments: an error until confirmed."""
    count = services.step_change_impact(cadence=cadence, position=step.position)
    if count and request.POST.get("confirm") != "1":
        return _(ERR_CONFIRM) % {"count": count}
    return None


def _step_change(request, pk: int, step_pk: int, change, done: str, *, anchor: bool):
    """Edit or remove a step: confirmed first when running enrolments are before it."""
    cadence = _cadence(pk)
    step = get_object_or_404(CadenceStep, pk=step_pk, cadence=cadence)
    warning = _confirmed(request, cadence, step)
    if warning:
        return _builder_error(request, cadence, step.pk, warning)
    try:
        change(step)
    except ValidationError as exc:
        return _builder_error(request, cadence, step.pk, " ".join(exc.messages))
    messages.success(request, _(done))
    return _back(cadence, f"step-{step.pk}") if anchor else _back(cadence)


@require_POST
@role_required(MANAGE)
def step_edit(request, pk: int, step_pk: int):
    def change(step):
        services.step_update(step=step, config=step_config_from(step.kind, request.POST))

    return _step_change(request, pk, step_pk, change, MSG_STEP_SAVED, anchor=True)


@require_POST
@role_required(MANAGE)
def step_delete(request, pk: int, step_pk: int):
    return _step_change(
        request, pk, step_pk, lambda step: services.step_remove(step=step), MSG_STEP_REMOVED, anchor=False
    )


@require_POST
@role_required(MANAGE)
def step_move(request, pk: int, step_pk: int):
    """The keyboard alternative to dragging: one place up or down."""
    cadence = _cadence(pk)
    ids = list(cadence.steps.order_by("position").values_list("pk", flat=True))
    if step_pk not in ids:
        return HttpResponse(status=404)
    index = ids.index(step_pk)
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        try:
            services.steps_reorder(cadence=cadence, step_ids=ids)
        except ValidationError as exc:
            return _builder_error(request, cadence, "add", " ".join(exc.messages))
    return _back(cadence, f"step-{step_pk}")


@require_POST
@role_required(MANAGE)
def steps_reorder(request, pk: int):
    """The drag-and-drop order (``cadences.js``): ``steps=<id>,<id>,...``."""
    cadence = _cadence(pk)
    try:
        ids = [int(x) for x in request.POST.get("steps", "").split(",") if x.strip()]
        steps = services.steps_reorder(cadence=cadence, step_ids=ids)
    except (ValueError, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else _(services.ERR_STEP_ORDER)
        return JsonResponse({"error": text}, status=400)
    return JsonResponse({"steps": [s.pk for s in steps]})


# --- enrolments ------------------------------------------------------------------------------------


@require_GET
@role_required(Role.VIEWER)
def enrollment_list(request, pk: int):
    cadence = _cadence(pk)
    state = request.GET.get("state", "")
    qs = selectors.enrollment_list(cadence=cadence, state=state if state in EnrollmentState.values else "")
    page = paginate(request, qs, keyset="-id", count=False)
    context = {
        "cadence": cadence,
        "page": page,
        "columns": [_("Contact"), _("State"), _("Step"), _("Next moment"), (_("Enrolled"), "hidden md:table-cell"), ""],
        "state": state,
        "state_choices": EnrollmentState.choices,
        "can_enrol": _can(request, ENROL),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "cadences/partials/enrollment_table.html", context)
    return render(request, "cadences/enrollment_list.html", context)


@require_POST
@role_required(ENROL)
def enrol_segment(request, pk: int):
    from crm.models import Segment
    from crm.selectors import segment_contacts

    cadence = _cadence(pk)
    raw = request.POST.get("segment", "")
    segment = Segment.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if segment is None:
        messages.error(request, _(ERR_NOTHING))
        return _back(cadence)
    try:
        count = services.enrol(
            cadence=cadence, contacts=segment_contacts(segment), source=EnrolSource.SEGMENT, by=request.user
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return _back(cadence)
    messages.success(request, _(MSG_ENROLLED) % {"count": count})
    return redirect("cadences:enrollments", pk=cadence.pk)


@role_required(ENROL)
def enrol_contacts(request):
    """Enrol the CRM contact list's selection: ``?contact=<id>&contact=<id>`` (the selected
    rows) or ``?all=1`` with the list's own query string (all N matching, read by
    ``crm.listing.contacts_for_query``). GET shows the count and the cadences; POST enrols."""
    from crm.listing import contacts_for_query
    from crm.models import Contact
    from crm.segments import FilterError

    source = request.POST if request.method == "POST" else request.GET
    ids = [int(x) for x in source.getlist("contact") if str(x).isdigit()]
    every = source.get("all") == "1"
    try:
        contacts = contacts_for_query(source)[0] if every else Contact.objects.filter(pk__in=ids)
        count = contacts.count()
    except FilterError as exc:
        return render(request, "cadences/enrol.html", {"error": str(exc), "cadences": [], "count": 0}, status=400)
    cadences = list(Cadence.objects.filter(status__in=[CadenceStatus.ACTIVE, CadenceStatus.PAUSED]).order_by("name"))
    keep = [(k, v) for k in source if k not in ("cadence", "csrfmiddlewaretoken") for v in source.getlist(k)]
    context = {"count": count, "cadences": cadences, "keep": keep}
    if request.method != "POST":
        return render(request, "cadences/enrol.html", context)
    raw = source.get("cadence", "")
    cadence = Cadence.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if cadence is None or not count:
        context["error"] = _(ERR_NOTHING)
        return render(request, "cadences/enrol.html", context, status=400)
    try:
        enrolled = services.enrol(cadence=cadence, contacts=contacts, by=request.user)
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return render(request, "cadences/enrol.html", context, status=400)
    messages.success(request, _(MSG_ENROLLED) % {"count": enrolled})
    return redirect("cadences:enrollments", pk=cadence.pk)


@require_POST
@role_required(ENROL)
def unenrol(request, pk: int, enrollment_pk: int):
    cadence = _cadence(pk)
    enrollment = get_object_or_404(Enrollment, pk=enrollment_pk, cadence=cadence)
    services.unenrol(enrollment=enrollment, by=request.user)
    messages.success(request, _(MSG_UNENROLLED))
    return redirect("cadences:enrollments", pk=cadence.pk)
