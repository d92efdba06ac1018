"""Pages of the Kanban board."""

from __future__ import annotations

from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from tenants.permissions import role_required


@require_GET
@role_required("workspace.view")
def boards(request):
    return redirect("/")
