from django.utils.functional import SimpleLazyObject

from tenants.permissions import ABILITIES


def workspace(request):
    """Company, principal, abilities and the shell's data (company switcher) for templates."""
    tenant = getattr(request, "tenant", None)
    principal = getattr(request, "principal", None)
    is_workspace = tenant is not None and tenant.schema_name != "public"
    abilities = {name.replace(".", "_"): bool(principal and principal.can(role)) for name, role in ABILITIES.items()}
    user = getattr(request, "user", None)

    def switcher():
        # Evaluated only by templates that show the switcher (one query, the user's companies).
        if user is None or not user.is_authenticated:
            return []
        from tenants.selectors import memberships_for_user
        from tenants.services import public_url

        return [
            {
                "name": m.company.name,
                "slug": m.company.slug,
                "role": m.get_role_display(),
                "current": is_workspace and m.company_id == tenant.pk,
                "url": public_url(f"/workspaces/{m.company.slug}/open/"),
            }
            for m in memberships_for_user(user=user)
        ]

    def public_home():
        from tenants.services import public_url

        return public_url("/workspaces/")

    return {
        "company": tenant if is_workspace else None,
        "is_workspace": is_workspace,
        "principal": principal,
        "membership": getattr(request, "membership", None),
        "can": abilities,
        "workspace_switcher": SimpleLazyObject(switcher),
        "workspaces_url": SimpleLazyObject(public_home),
    }
