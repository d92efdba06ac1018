"""CRM pages: contacts, contact page, bulk actions, import/export, lists and segments, settings.

Views check (role, input) and call services; reading goes through selectors and
``crm.listing``. Agents work contacts; admins manage fields and settings; viewers read.
"""

from __future__ import annotations

import json
import os

from django.contrib import messages
from django.db import IntegrityError
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from core.tasks import enqueue_on_commit
from crm import exporting, services
from crm.fields import display_value
from crm.forms import (
    ContactForm,
    CustomFieldForm,
    ImportStartForm,
    ImportUploadForm,
    NameForm,
    OptOutSettingsForm,
)
from crm.importing import MAX_UPLOAD_MB, ImportFileError, mapping_clean, target_labels
from crm.listing import DEFAULT_SORT, SORTS, CursorError, contacts_for_query, keyset_page, needs_bounded_search
from crm.models import (
    BulkAction,
    BulkOperation,
    ConsentStatus,
    Contact,
    ContactImport,
    ContactList,
    ContactSource,
    CustomFieldDefinition,
    ImportStatus,
    Note,
    Segment,
    Tag,
)
from crm.phones import InvalidPhoneError, normalize_phone
from crm.segments import FilterError, filters_clean, filters_q
from crm.selectors import bulk_operation_undoable, contact_timeline, crm_settings_get, tags_by_id
from crm.validation import (
    ERR_BULK_PARAMS,
    ERR_LIST_NAME_TAKEN,
    ERR_SEGMENT_NAME_TAKEN,
    ERR_TAG_NAME_TAKEN,
    ContactDataError,
    bulk_params_clean,
    contact_data_clean,
)
from tenants.context import company_country, current_company, current_schema
from tenants.limits import LimitReached
from tenants.permissions import role_required
from tenants.roles import Role
from tenants.selectors import company_users, users_by_id
from ui import record_links
from ui.phones import format_phone

ERR_NOTHING_SELECTED = gettext_noop("Select at least one contact.")
ERR_UNDO_EXPIRED = gettext_noop("This action can no longer be undone.")
ERR_MERGE_SAME = gettext_noop("Choose another contact to merge.")
ERR_NOTE_EMPTY = gettext_noop("Write something in the note.")
BULK_UNDOABLE = {
    BulkAction.TAG,
    BulkAction.UNTAG,
    BulkAction.ADD_TO_LIST,
    BulkAction.ASSIGN_OWNER,
    BulkAction.OPT_OUT,
    BulkAction.DELETE,
}
BULK_SYNC_LIMIT = 20_000


def _members():
    return list(company_users(company=current_company()))


def _can(request, role: str) -> bool:
    principal = getattr(request, "principal", None)
    return principal is not None and principal.can(role)


# --- Contact list ---------------------------------------------------------------------------


def _list_context(request):
    sort = request.GET.get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        sort = DEFAULT_SORT
    error = None
    try:
        queryset, clean, segment = contacts_for_query(request.GET)
    except FilterError as exc:
        error = str(exc.message)
        queryset, clean, segment = Contact.objects.none(), {}, None
    try:
        page = keyset_page(request, queryset, sort, search=needs_bounded_search(clean))
    except CursorError as exc:
        # A link changed by hand: say so above the first page (answered 400, see contact_list).
        error = str(exc.message)
        first = request.GET.copy()
        for key in ("after", "before"):
            first.pop(key, None)
        request.GET = first
        page = keyset_page(request, queryset, sort, search=needs_bounded_search(clean))
    tag_ids = {t for c in page.items for t in c.tag_ids}
    tags = tags_by_id(tag_ids) if tag_ids else {}
    owners = users_by_id(c.owner_id for c in page.items)
    for contact in page.items:
        contact.tag_list = [tags[t] for t in contact.tag_ids if t in tags]
        contact.owner_user = owners.get(contact.owner_id)
    filter_keys = [k for k in request.GET if k not in ("after", "before", "size", "sort", "page")]
    return {
        "page": page,
        "sort": sort,
        "sorts": SORTS,
        "filters": clean,
        "segment": segment,
        "filter_error": error,
        "has_filters": bool(filter_keys),
        "query": request.GET.urlencode(),
        "filter_query": urlencode([(k, v) for k in filter_keys for v in request.GET.getlist(k)]),
        "q": request.GET.get("q", ""),
        "all_tags": list(Tag.objects.all()),
        "lists": list(ContactList.objects.all()),
        "members": _members(),
        "can_write": _can(request, Role.AGENT),
        "bulk_links": record_links.links_for("contacts", getattr(request, "principal", None)),
        "filter_params": [(k, v) for k in filter_keys for v in request.GET.getlist(k)],
    }


@role_required(Role.VIEWER)
@require_GET
def contact_list(request):
    context = _list_context(request)
    if request.htmx and request.htmx.target == "contacts":
        # The table swaps in with the error above it (htmx swaps no 4xx answer).
        return render(request, "crm/partials/contact_table.html", context)
    status = 400 if context["filter_error"] else 200
    context.update(
        {
            "segments": list(Segment.objects.all()),
            "consent_choices": ConsentStatus.choices,
            "source_choices": ContactSource.choices,
            "selected_tags": request.GET.getlist("tag"),
            "selected_consent": request.GET.getlist("consent"),
            "selected_owner": request.GET.getlist("owner"),
            "bulk_actions": BulkAction.choices,
            "undo": bulk_operation_undoable(user_id=request.user.pk),
        }
    )
    return render(request, "crm/contact_list.html", context, status=status)


@role_required(Role.VIEWER)
@require_GET
def contact_count(request):
    """The number of contacts matching the list's filters (loaded after the page: counting a
    million rows should not hold the first rows back)."""
    try:
        queryset, _clean, _segment = contacts_for_query(request.GET)
        total = queryset.count()
    except FilterError:
        total = 0
    return render(request, "crm/partials/contact_count.html", {"total": total, "query": request.GET.urlencode()})


# --- Bulk actions -----------------------------------------------------------------------------


def _bulk_queryset(request):
    """Selected ids, or every contact matching the filters the page was showing."""
    if request.POST.get("scope") == "all":
        from django.http import QueryDict

        params = QueryDict(request.POST.get("filters", ""))
        queryset, _clean, _segment = contacts_for_query(params)
        return queryset
    ids = []
    for raw in request.POST.getlist("ids"):
        try:
            ids.append(int(raw))
        except ValueError:
            continue
    return Contact.objects.filter(pk__in=ids) if ids else None


@role_required(Role.AGENT)
@require_POST
def contact_bulk(request):
    back = reverse("crm:contacts") + ("?" + request.POST["filters"] if request.POST.get("filters") else "")
    action = request.POST.get("action", "")
    if action not in BulkAction.values:
        messages.error(request, str(ERR_BULK_PARAMS))
        return redirect(back)
    try:
        queryset = _bulk_queryset(request)
    except FilterError as exc:
        messages.error(request, str(exc.message))
        return redirect(back)
    if queryset is None:
        messages.error(request, _(ERR_NOTHING_SELECTED))
        return redirect(back)
    try:
        params = bulk_params_clean(
            action=action,
            tag=request.POST.get("tag", ""),
            list_id=request.POST.get("list", ""),
            owner=request.POST.get("owner", ""),
        )
    except ContactDataError:
        messages.error(request, str(ERR_BULK_PARAMS))
        return redirect(back)
    if request.POST.get("scope") == "all" and queryset.count() > BULK_SYNC_LIMIT:
        # Hundreds of thousands of rows: one set-based statement still takes a while, so it
        # runs in the worker; the undo banner shows up once it is done.
        enqueue_on_commit(
            "crm.contacts_bulk_action_run",
            current_schema(),
            action,
            params,
            request.POST.get("filters", ""),
            request.user.pk,
        )
        messages.success(
            request,
            _("%(action)s: running in the background for every matching contact.")
            % {"action": BulkAction(action).label},
        )
        return redirect(back)
    try:
        operation = services.contacts_bulk_action(queryset=queryset, action=action, params=params, by=request.user)
    except ContactDataError as exc:
        for error in exc.errors.values():
            messages.error(request, str(error))
        return redirect(back)
    messages.success(
        request,
        _("%(action)s: %(count)s contacts.")
        % {"action": BulkAction(action).label, "count": number_format(operation.affected, force_grouping=True)},
    )
    return redirect(back)


@role_required(Role.AGENT)
@require_POST
def contact_bulk_undo(request, pk: int):
    operation = get_object_or_404(BulkOperation, pk=pk)
    if operation.undone_at is not None or operation.created_at < timezone.now() - services.UNDO_WINDOW:
        messages.error(request, _(ERR_UNDO_EXPIRED))
    else:
        restored = services.contacts_bulk_undo(operation=operation, by=request.user)
        messages.success(
            request, _("Undone: %(count)s contacts restored.") % {"count": number_format(restored, force_grouping=True)}
        )
    return redirect(request.POST.get("next") or reverse("crm:contacts"))


# --- Contact page -----------------------------------------------------------------------------


def _contact_context(request, contact: Contact, form=None) -> dict:
    definitions = list(CustomFieldDefinition.objects.all())
    members = _members()
    field_rows = [
        {
            "definition": d,
            "value": contact.custom_fields.get(d.key),
            "display": display_value(d, contact.custom_fields.get(d.key)),
        }
        for d in definitions
    ]
    if form is None:
        form = ContactForm(
            initial={
                "name": contact.name,
                "phone": format_phone(contact.phone),
                "email": contact.email,
                "owner_id": contact.owner_id,
                "consent_status": contact.consent_status,
            },
            members=members,
        )
    tags = tags_by_id(set(contact.tag_ids)) if contact.tag_ids else {}
    notes = list(Note.objects.filter(contact=contact).order_by("-created_at")[:50])
    authors = users_by_id(n.author_id for n in notes)
    for note in notes:
        note.author_user = authors.get(note.author_id)
    return {
        "contact": contact,
        "form": form,
        "field_rows": field_rows,
        "contact_tags": [tags[t] for t in contact.tag_ids if t in tags],
        "all_tags": list(Tag.objects.all()),
        "notes": notes,
        "timeline": contact_timeline(contact=contact),
        "lists": list(ContactList.objects.filter(members__contact=contact)),
        "owner": users_by_id([contact.owner_id]).get(contact.owner_id),
        "can_write": _can(request, Role.AGENT),
        "record_links": record_links.links_for("contact", getattr(request, "principal", None), record=contact.pk),
    }


@role_required(Role.VIEWER)
def contact_detail(request, pk: int):
    contact = get_object_or_404(Contact, pk=pk)
    form = None
    if request.method == "POST":
        if not _can(request, Role.AGENT):
            return HttpResponse(status=403)
        form = ContactForm(request.POST, members=_members())
        if form.is_valid():
            data = dict(form.cleaned_data)
            custom = {d.key: request.POST.get(f"cf_{d.key}", "") for d in CustomFieldDefinition.objects.all()}
            data["custom_fields"] = custom
            try:
                clean = contact_data_clean(data, instance=contact)
            except ContactDataError as exc:
                for key, message in exc.errors.items():
                    if key == "custom_fields":
                        for field_key, field_message in message.items():
                            form.add_error(None, f"{field_key}: {field_message}")
                    elif key in form.fields:
                        form.add_error(key, str(message))
                    else:
                        form.add_error(None, str(message))
            else:
                services.contact_update(contact=contact, data=clean, by=request.user)
                messages.success(request, _("Contact saved."))
                return redirect("crm:contact", pk=contact.pk)
    return render(request, "crm/contact_detail.html", _contact_context(request, contact, form))


@role_required(Role.AGENT)
def contact_create(request):
    members = _members()
    definitions = list(CustomFieldDefinition.objects.all())
    form = ContactForm(request.POST or None, members=members, initial={"consent_status": ConsentStatus.UNKNOWN})
    field_rows = [
        {"definition": d, "value": request.POST.get(f"cf_{d.key}", "") if request.method == "POST" else None}
        for d in definitions
    ]
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["custom_fields"] = {d.key: request.POST.get(f"cf_{d.key}", "") for d in definitions}
        try:
            clean = contact_data_clean(data, definitions=definitions)
        except ContactDataError as exc:
            for key, message in exc.errors.items():
                form.add_error(
                    key if key in form.fields else None,
                    str(message)
                    if not isinstance(message, dict)
                    else "; ".join(f"{k}: {v}" for k, v in message.items()),
                )
        else:
            try:
                contact = services.contact_create(data=clean, by=request.user, source=ContactSource.MANUAL)
            except LimitReached as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Contact created."))
                return redirect("crm:contact", pk=contact.pk)
    return render(request, "crm/contact_form.html", {"form": form, "field_rows": field_rows})


@role_required(Role.AGENT)
@require_POST
def contact_tags(request, pk: int):
    contact = get_object_or_404(Contact, pk=pk)
    if request.POST.get("remove"):
        tag_ids = [t for t in contact.tag_ids if str(t) != request.POST["remove"]]
    else:
        name = (request.POST.get("name") or "").strip()
        if not name or len(name) > 64:
            messages.error(request, _("Tag names have 1 to 64 characters."))
            return redirect("crm:contact", pk=pk)
        tag_ids = sorted(set(contact.tag_ids) | set(services.tags_ensure(names=[name])))
    services.contact_update(contact=contact, data={"tag_ids": tag_ids}, by=request.user)
    return redirect("crm:contact", pk=pk)


@role_required(Role.AGENT)
@require_POST
def contact_consent(request, pk: int):
    contact = get_object_or_404(Contact, pk=pk)
    if request.POST.get("status") == ConsentStatus.OPTED_OUT:
        services.contact_opt_out(contact=contact, source="manual", by=request.user)
        messages.success(request, _("The contact will not receive marketing messages."))
    elif request.POST.get("status") == ConsentStatus.OPTED_IN:
        services.contact_opt_in(contact=contact, source="manual", by=request.user)
        messages.success(request, _("The contact agreed to receive marketing messages."))
    return redirect("crm:contact", pk=pk)


@role_required(Role.AGENT)
@require_POST
def contact_note(request, pk: int):
    contact = get_object_or_404(Contact, pk=pk)
    body = (request.POST.get("body") or "").strip()
    if not body:
        messages.error(request, _(ERR_NOTE_EMPTY))
    else:
        services.note_create(contact=contact, body=body[:5000], by=request.user)
    return redirect("crm:contact", pk=pk)


@role_required(Role.AGENT)
@require_POST
def contact_delete(request, pk: int):
    contact = get_object_or_404(Contact, pk=pk)
    try:
        services.contact_delete(contact=contact, by=request.user)
    except ContactDataError as exc:
        for error in exc.errors.values():
            messages.error(request, str(error))
        return redirect("crm:contact", pk=contact.pk)
    messages.success(request, _("Contact deleted."))
    return redirect("crm:contacts")


@role_required(Role.AGENT)
def contact_merge(request, pk: int):
    """Find duplicates of a contact (same name, email or phone digits) and merge one in."""
    contact = get_object_or_404(Contact, pk=pk)
    if request.method == "POST":
        try:
            other = Contact.objects.get(pk=int(request.POST.get("other") or 0))
        except (ValueError, Contact.DoesNotExist):
            raise Http404 from None
        if other.pk == contact.pk:
            messages.error(request, _(ERR_MERGE_SAME))
            return redirect("crm:contact-merge", pk=pk)
        services.contact_merge(primary=contact, others=[other], by=request.user)
        messages.success(request, _("Contacts merged."))
        return redirect("crm:contact", pk=pk)
    q = (request.GET.get("q") or "").strip()
    candidates = Contact.objects.exclude(pk=contact.pk)
    if q:
        from crm.segments import search_q

        candidates = candidates.filter(search_q(q))
    else:
        from django.db.models import Q

        suggestion = Q(pk__in=[])
        if contact.name:
            suggestion |= Q(search_name=contact.search_name)
        if contact.email:
            suggestion |= Q(email=contact.email)
        candidates = candidates.filter(suggestion)
    return render(
        request,
        "crm/contact_merge.html",
        {"contact": contact, "candidates": list(candidates.order_by("-id")[:20]), "q": q},
    )


# --- Export -----------------------------------------------------------------------------------


@role_required(Role.VIEWER)
@require_GET
def contact_export(request, fmt: str):
    try:
        queryset, _clean, _segment = contacts_for_query(request.GET)
    except FilterError as exc:
        return HttpResponseBadRequest(str(exc.message))
    definitions = list(CustomFieldDefinition.objects.all())
    header = exporting.export_header(definitions)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    rows = exporting.export_rows(queryset, definitions, current_company())
    if fmt == "csv":
        response = StreamingHttpResponse(exporting.csv_chunks(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="contatos-{stamp}.csv"'
        return response
    if fmt == "xlsx":
        handle = exporting.xlsx_file(header, rows)
        return FileResponse(handle, as_attachment=True, filename=f"contatos-{stamp}.xlsx")
    raise Http404


# --- Import -----------------------------------------------------------------------------------


@role_required(Role.AGENT)
def import_list(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact_import = services.contact_import_upload(upload=form.cleaned_data["file"], by=request.user)
        except ImportFileError as exc:
            form.add_error("file", str(exc.message))
        else:
            return redirect("crm:import", pk=contact_import.pk)
    imports = list(ContactImport.objects.order_by("-created_at")[:30])
    context = {"form": form, "imports": imports, "max_mb": MAX_UPLOAD_MB}
    # A refused upload shows the form again with the reason: a 400, nothing kept.
    return render(request, "crm/import_list.html", context, status=400 if form.errors else 200)


def _mapping_rows(contact_import: ContactImport, mapping: dict) -> tuple[list[dict], list[tuple[str, str]]]:
    definitions = list(CustomFieldDefinition.objects.all())
    labels = target_labels()
    targets = list(labels.items()) + [(f"cf:{d.key}", d.label) for d in definitions]
    rows = []
    for index, header in enumerate(contact_import.headers):
        rows.append(
            {
                "index": index,
                "header": header,
                "target": mapping.get(str(index), ""),
                "samples": _samples(contact_import, index, phone=mapping.get(str(index)) == "phone"),
            }
        )
    return rows, targets


def _samples(contact_import: ContactImport, index: int, *, phone: bool) -> list[str]:
    """The column's first values; a phone column's as they will be stored, written for people
    (an unreadable number stays as the file has it: the import reports it)."""
    values = [r[index] for r in contact_import.preview if index < len(r) and r[index]][:3]
    if not phone:
        return values
    country = company_country()
    out = []
    for value in values:
        try:
            out.append(format_phone(normalize_phone(value, country)))
        except InvalidPhoneError:
            out.append(value)
    return out


@role_required(Role.AGENT)
def import_detail(request, pk: int):
    contact_import = get_object_or_404(ContactImport, pk=pk)
    lists = list(ContactList.objects.all())
    if contact_import.status != ImportStatus.MAPPING:
        return render(request, "crm/import_detail.html", {"imp": contact_import, "tags": _import_tags(contact_import)})
    form = ImportStartForm(request.POST or None, lists=lists)
    mapping = contact_import.mapping
    error = None
    if request.method == "POST":
        mapping = {str(i): request.POST.get(f"col_{i}", "") for i in range(len(contact_import.headers))}
        try:
            clean_mapping = mapping_clean(mapping, contact_import.headers, list(CustomFieldDefinition.objects.all()))
        except ImportFileError as exc:
            error = str(exc.message)
        else:
            if form.is_valid():
                names = [t.strip() for t in (form.cleaned_data["tags"] or "").split(",") if t.strip()]
                if any(len(n) > 64 for n in names):
                    form.add_error("tags", _("Tag names have 1 to 64 characters."))
                else:
                    try:
                        services.contact_import_start(
                            contact_import=contact_import,
                            mapping=clean_mapping,
                            tag_ids=services.tags_ensure(names=names) if names else [],
                            list_id=form.cleaned_data["contact_list"],
                            existing=form.cleaned_data["existing"],
                        )
                    except LimitReached as exc:
                        error = exc.messages[0]
                    else:
                        return redirect("crm:import", pk=contact_import.pk)
    rows, targets = _mapping_rows(contact_import, mapping)
    return render(
        request,
        "crm/import_mapping.html",
        {"imp": contact_import, "rows": rows, "targets": targets, "form": form, "error": error},
    )


def _import_tags(contact_import: ContactImport) -> list[Tag]:
    return list(Tag.objects.filter(pk__in=contact_import.tag_ids)) if contact_import.tag_ids else []


@role_required(Role.AGENT)
@require_GET
def import_progress(request, pk: int):
    contact_import = get_object_or_404(ContactImport, pk=pk)
    return render(request, "crm/partials/import_progress.html", {"imp": contact_import})


@role_required(Role.AGENT)
@require_GET
def import_failed_rows(request, pk: int):
    contact_import = get_object_or_404(ContactImport, pk=pk)
    if not contact_import.failed_file:
        raise Http404
    name = contact_import.failed_file.name
    assert name  # a FieldFile is truthy only when it has a name
    handle = contact_import.failed_file.open("rb")
    return FileResponse(handle, as_attachment=True, filename=os.path.basename(name))


# --- Lists and segments -----------------------------------------------------------------------


@role_required(Role.VIEWER)
def audience_list(request):
    list_form = NameForm(request.POST or None, prefix="list")
    if request.method == "POST":
        if not _can(request, Role.AGENT):
            return HttpResponse(status=403)
        if list_form.is_valid():
            try:
                services.contact_list_create(name=list_form.cleaned_data["name"])
            except IntegrityError:
                list_form.add_error("name", ERR_LIST_NAME_TAKEN)
            else:
                messages.success(request, _("List created."))
                return redirect("crm:audiences")
    lists = list(ContactList.objects.annotate(size=Count("members")).order_by("name"))
    segments = list(Segment.objects.order_by("name"))
    return render(
        request,
        "crm/audiences.html",
        {"lists": lists, "segments": segments, "list_form": list_form, "can_write": _can(request, Role.AGENT)},
    )


@role_required(Role.AGENT)
@require_POST
def list_delete(request, pk: int):
    services.contact_list_delete(contact_list=get_object_or_404(ContactList, pk=pk))
    messages.success(request, _("List deleted."))
    return redirect("crm:audiences")


def _segment_filters_from_post(post) -> dict:
    """The segment editor posts the same fields as the contact list filters plus field rows."""
    from crm.listing import filters_from_query

    raw = filters_from_query(post)
    conditions = []
    for key, op, value in zip(post.getlist("cf_key"), post.getlist("cf_op"), post.getlist("cf_value"), strict=False):
        if key:
            conditions.append({"key": key, "op": op, "value": value})
    if conditions:
        raw["fields"] = conditions
    return raw


@role_required(Role.AGENT)
def segment_edit(request, pk: int | None = None):
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    error = None
    filters = segment.filters if segment else {}
    name = segment.name if segment else ""
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()
        try:
            filters = filters_clean(_segment_filters_from_post(request.POST))
        except FilterError as exc:
            error = str(exc.message)
        else:
            if not name:
                error = _("Give the segment a name.")
            else:
                try:
                    segment = services.segment_save(segment=segment, name=name, filters=filters)
                except IntegrityError:
                    error = str(ERR_SEGMENT_NAME_TAKEN)
                else:
                    messages.success(request, _("Segment saved."))
                    return redirect("crm:audiences")
    return render(
        request,
        "crm/segment_form.html",
        {
            "segment": segment,
            "name": name,
            "filters": filters,
            "filters_json": json.dumps(filters),
            "error": error,
            "all_tags": list(Tag.objects.all()),
            "lists": list(ContactList.objects.all()),
            "members": _members(),
            "definitions": list(CustomFieldDefinition.objects.all()),
            "consent_choices": ConsentStatus.choices,
            "source_choices": ContactSource.choices,
        },
    )


@role_required(Role.VIEWER)
@require_POST
def segment_count(request):
    """Live count while a segment is edited: the same compiled query, counted."""
    try:
        filters = filters_clean(_segment_filters_from_post(request.POST))
        total = Contact.objects.filter(filters_q(filters)).count()
        error = None
    except FilterError as exc:
        total, error = None, str(exc.message)
    return render(request, "crm/partials/segment_count.html", {"total": total, "error": error})


@role_required(Role.AGENT)
@require_POST
def segment_delete(request, pk: int):
    services.segment_delete(segment=get_object_or_404(Segment, pk=pk))
    messages.success(request, _("Segment deleted."))
    return redirect("crm:audiences")


# --- Settings (admins) ------------------------------------------------------------------------


@role_required(Role.ADMIN)
def crm_settings(request):
    settings_row = crm_settings_get()
    field_form = (
        CustomFieldForm(request.POST or None, prefix="field")
        if request.POST.get("form") == "field"
        else CustomFieldForm(prefix="field")
    )
    optout_form = (
        OptOutSettingsForm(request.POST)
        if request.POST.get("form") == "optout"
        else OptOutSettingsForm(
            initial={"keywords": "\n".join(settings_row.opt_out_keywords), "reply": settings_row.opt_out_reply}
        )
    )
    tag_form = (
        NameForm(request.POST or None, prefix="tag") if request.POST.get("form") == "tag" else NameForm(prefix="tag")
    )
    if request.method == "POST":
        which = request.POST.get("form")
        if which == "field" and field_form.is_valid():
            data = field_form.cleaned_data
            services.custom_field_create(
                key=data["key"],
                label=data["label"],
                field_type=data["field_type"],
                choices=data["choices"],
                required=data["required"],
            )
            messages.success(request, _("Custom field created."))
            return redirect("crm:settings")
        if which == "optout" and optout_form.is_valid():
            services.crm_settings_update(
                keywords=optout_form.cleaned_data["keywords"], reply=optout_form.cleaned_data["reply"]
            )
            messages.success(request, _("Opt-out settings saved."))
            return redirect("crm:settings")
        if which == "tag" and tag_form.is_valid():
            try:
                services.tag_create(name=tag_form.cleaned_data["name"])
            except IntegrityError:
                tag_form.add_error("name", ERR_TAG_NAME_TAKEN)
            else:
                messages.success(request, _("Tag created."))
                return redirect("crm:settings")
    return render(
        request,
        "crm/settings.html",
        {
            "definitions": list(CustomFieldDefinition.objects.all()),
            "field_form": field_form,
            "optout_form": optout_form,
            "tag_form": tag_form,
            "tags": list(Tag.objects.all()),
        },
    )


@role_required(Role.ADMIN)
def custom_field_edit(request, pk: int):
    definition = get_object_or_404(CustomFieldDefinition, pk=pk)
    form = CustomFieldForm(
        request.POST or None,
        instance=definition,
        initial={
            "label": definition.label,
            "key": definition.key,
            "field_type": definition.field_type,
            "choices": "\n".join(definition.choices),
            "required": definition.required,
        },
    )
    if request.method == "POST" and form.is_valid():
        services.custom_field_update(
            definition=definition,
            label=form.cleaned_data["label"],
            choices=form.cleaned_data["choices"],
            required=form.cleaned_data["required"],
        )
        messages.success(request, _("Custom field saved."))
        return redirect("crm:settings")
    return render(request, "crm/custom_field_form.html", {"form": form, "definition": definition})


@role_required(Role.ADMIN)
@require_POST
def custom_field_delete(request, pk: int):
    services.custom_field_delete(definition=get_object_or_404(CustomFieldDefinition, pk=pk))
    messages.success(request, _("Custom field deleted."))
    return redirect("crm:settings")


@role_required("tags.manage")
@require_POST
def tag_delete(request, pk: int):
    services.tag_delete(tag=get_object_or_404(Tag, pk=pk))
    messages.success(request, _("Tag deleted."))
    return redirect("crm:settings")
