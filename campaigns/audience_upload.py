"""A CSV or XLSX uploaded as a campaign's audience: one row per person, its columns fill the
``csv.<column>`` variables of that row's message.

The file is read with the CRM import's inspection (UTF-8 or Latin-1/Windows-1252, ``;`` ``,``
or tab, the header row, Excel's numbers), the phone column is guessed from its name
(``telefone``, ``celular``, ``whatsapp``...) unless chosen, every phone is normalized the
CRM's way (+55, DDD, ninth digit), and each row is tied to its contact: found by phone, or
created (source ``campaign_upload``) so the message lands in a conversation like any other.
Rows whose number is not a phone are kept with an empty phone: the snapshot skips them as
invalid, so they show in the recipient table with their reason.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import AudienceRow, AudienceUpload
from core.tenancy import require_tenant_schema

MAX_ROWS = 200_000
MAX_MB = 50
BATCH = 5000
ERR_NO_PHONE = gettext_noop("Choose the column that holds the phone number.")
ERR_TOO_MANY = gettext_noop("The file has more than %(max)s rows. Split it, or import it into the CRM first.")
ERR_TOO_BIG = gettext_noop("The file is larger than %(size)s MB.")
ERR_NO_ROWS = gettext_noop("The file has no rows below the header.")


def _phone_column(headers: list[str], chosen: str = "") -> str:
    from crm.importing import guess_mapping

    if chosen and chosen in headers:
        return chosen
    for index, target in guess_mapping(headers, []).items():
        if target == "phone":
            return headers[int(index)]
    return ""


def _name_column(headers: list[str]) -> str:
    from crm.importing import guess_mapping

    for index, target in guess_mapping(headers, []).items():
        if target == "name":
            return headers[int(index)]
    return ""


def audience_upload_create(*, upload, by=None, phone_column: str = "") -> AudienceUpload:
    """Read ``upload`` (a Django ``UploadedFile``) into an ``AudienceUpload`` with its rows.
    Raises ``ValidationError`` with a clear message for a file that cannot be used."""
    from crm.importing import ImportFileError, inspect_file, iter_rows, upload_local_path

    if upload.size > MAX_MB * 1024 * 1024:
        raise ValidationError(_(ERR_TOO_BIG) % {"size": MAX_MB})
    name = f"{timezone.now():%Y%m%d%H%M%S}-{get_random_string(8)}-{upload.name[-80:]}"
    stored = default_storage.save(f"campaigns/audiences/{require_tenant_schema()}/{name}", upload)
    with upload_local_path(stored, upload) as local:
        try:
            inspection = inspect_file(local, upload.name)
        except ImportFileError as exc:
            raise ValidationError(str(exc.message)) from None
        if inspection.total_rows > MAX_ROWS:
            raise ValidationError(_(ERR_TOO_MANY) % {"max": f"{MAX_ROWS:,}".replace(",", ".")})
        if inspection.total_rows == 0:
            raise ValidationError(_(ERR_NO_ROWS))
        headers = [h.strip() or f"col{i + 1}" for i, h in enumerate(inspection.headers)]
        column = _phone_column(headers, phone_column)
        if not column:
            raise ValidationError({"phone_column": [_(ERR_NO_PHONE)]})
        rows = iter_rows(local, inspection.file_format, inspection.encoding, inspection.delimiter)
        next(rows, None)  # the header
        return _store(
            upload_name=upload.name,
            stored=stored,
            inspection=inspection,
            headers=headers,
            phone_column=column,
            rows=rows,
            by=by,
        )


@transaction.atomic
def _store(*, upload_name, stored, inspection, headers, phone_column, rows, by) -> AudienceUpload:
    from crm.phones import try_normalize_phone
    from tenants.context import company_country

    country = company_country()
    audience = AudienceUpload.objects.create(
        original_name=upload_name[:255],
        file=stored,
        encoding=inspection.encoding,
        delimiter=inspection.delimiter,
        headers=headers,
        phone_column=phone_column,
        created_by_id=getattr(by, "pk", None),
    )
    name_column = _name_column(headers)
    batch: list[AudienceRow] = []
    total = invalid = 0
    for number, raw in enumerate(rows, start=1):
        if not any(cell.strip() for cell in raw):
            continue
        values = {header: (raw[i] if i < len(raw) else "").strip()[:500] for i, header in enumerate(headers)}
        phone = try_normalize_phone(values.get(phone_column, ""), country) or ""
        if not phone:
            invalid += 1
        total += 1
        batch.append(AudienceRow(upload=audience, row_number=number, phone=phone, values=values))
        if len(batch) >= BATCH:
            _flush(batch, name_column)
            batch = []
        if total > MAX_ROWS:
            raise ValidationError(_(ERR_TOO_MANY) % {"max": MAX_ROWS})
    _flush(batch, name_column)
    if total == 0:
        raise ValidationError(_(ERR_NO_ROWS))
    audience.total_rows, audience.invalid_rows = total, invalid
    audience.save(update_fields=["total_rows", "invalid_rows"])
    return audience


def _flush(batch: list[AudienceRow], name_column: str) -> None:
    """Tie each row to its contact (created when the number is new), then insert the rows."""
    from crm.models import Contact

    if not batch:
        return
    phones = {row.phone for row in batch if row.phone}
    known = dict(Contact.objects.filter(phone__in=phones).values_list("phone", "id"))
    missing = {}
    for row in batch:
        if row.phone and row.phone not in known and row.phone not in missing:
            missing[row.phone] = Contact(
                phone=row.phone,
                wa_id=row.phone.lstrip("+"),
                name=(row.values.get(name_column, "") if name_column else "")[:200],
                source="campaign_upload",
            )
    if missing:
        Contact.objects.bulk_create(list(missing.values()), ignore_conflicts=True)
        known.update(Contact.objects.filter(phone__in=list(missing)).values_list("phone", "id"))
    for row in batch:
        row.contact_id = known.get(row.phone) if row.phone else None
    AudienceRow.objects.bulk_create(batch)
