from tenants.permissions import ABILITIES


def workspace(request):
    """Company, principal and abilities for templates."""
    tenant = getattr(request, "tenant", None)
    principal = getattr(request, "principal", None)
    is_workspace = tenant is not None and tenant.schema_name != "public"
    abilities = {name.replace(".", "_"): bool(principal and principal.can(role)) for name, role in ABILITIES.items()}
    return {
        "company": tenant if is_workspace else None,
        "is_workspace": is_workspace,
        "principal": principal,
        "membership": getattr(request, "membership", None),
        "can": abilities,
    }
