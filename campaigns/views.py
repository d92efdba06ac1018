"""Campaign pages."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenants.permissions import role_required
from tenants.roles import Role


@require_GET
@role_required(Role.VIEWER)
def campaign_list(request):
    return render(request, "campaigns/campaign_list.html", {})
