from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.workspace_home, name="dashboard"),
    path("auth/handoff/start/", views.handoff_start, name="handoff-start"),
    path("auth/handoff/", views.handoff, name="handoff"),
    path("settings/members/", views.members, name="members"),
    path("settings/members/<int:pk>/role/", views.member_role, name="member-role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member-remove"),
    path("settings/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("settings/company/", views.company_profile, name="company-profile"),
    path("settings/company/security/", views.company_security, name="company-security"),
    path("settings/profile/", views.profile, name="profile"),
]
