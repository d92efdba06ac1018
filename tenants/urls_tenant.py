from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.workspace_home, name="dashboard"),
    path("auth/handoff/", views.handoff, name="handoff"),
    path("support/enter/", views.support_enter, name="support-enter"),
    path("settings/members/", views.members, name="members"),
    path("settings/members/<int:pk>/role/", views.member_role, name="member-role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member-remove"),
    path("settings/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("settings/company/", views.company_profile, name="company-profile"),
    path("settings/profile/", views.profile, name="profile"),
    # Interface kit (staff or DEBUG)
    path("ui/", views.ui_kit, name="ui-kit"),
    path("ui/toast/", views.ui_kit_toast, name="ui-kit-toast"),
    path("ui/progress/", views.ui_kit_progress, name="ui-kit-progress"),
    path("ui/drawer/", views.ui_kit_drawer, name="ui-kit-drawer"),
    # Progressive web app: root scope on the company's own host
    path("sw.js", views.service_worker, name="service-worker"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("offline/", views.offline, name="offline"),
]
