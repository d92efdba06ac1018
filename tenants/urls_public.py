from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.home, name="home"),
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<slug:slug>/open/", views.workspace_open, name="workspace-open"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
]
