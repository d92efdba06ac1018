"""The tenants app's own section of the support admin: the company's invitations, with
"resend"."""

from __future__ import annotations

from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.support import Action, Section, register


def _company_id() -> int:
    return connection.tenant.pk  # type: ignore[attr-defined]  # the admin runs these in the company's schema


def _rows(search: str, offset: int, limit: int) -> list:
    from tenants.models import Invitation

    qs = Invitation.objects.filter(company_id=_company_id()).order_by("-id")
    if search:
        qs = qs.filter(email__icontains=search)
    return list(
        qs.values("pk", "email", "role", "created_at", "expires_at", "accepted_at", "revoked_at")[
            offset : offset + limit
        ]
    )


def _resend(pk: int, staff) -> str:
    from tenants.models import Invitation
    from tenants.services import invitation_resend

    invitation = Invitation.objects.get(pk=pk, company_id=_company_id())
    invitation_resend(invitation=invitation)
    return _("Invitation sent again to %(email)s.") % {"email": invitation.email}


def register_sections() -> None:
    register(
        Section(
            key="invitations",
            label=gettext_lazy("Invitations"),
            order=70,
            columns=[
                ("email", gettext_lazy("Email")),
                ("role", gettext_lazy("Role")),
                ("created_at", gettext_lazy("Created at")),
                ("expires_at", gettext_lazy("Expires at")),
                ("accepted_at", gettext_lazy("Accepted at")),
                ("revoked_at", gettext_lazy("Revoked at")),
            ],
            rows=_rows,
            actions=(Action(key="resend", label=gettext_lazy("Resend the invitation"), run=_resend),),
            search_help=gettext_lazy("Email"),
        )
    )
