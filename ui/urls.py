"""Pages of the interface: the PWA files (root scope, on every host) and the kit page."""

from django.urls import path

from ui import views

app_name = "ui"

pwa = [
    path("sw.js", views.service_worker, name="service-worker"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("offline/", views.offline, name="offline"),
]

urlpatterns = [
    *pwa,
    # Interface kit (staff or DEBUG)
    path("ui/", views.kit, name="kit"),
    path("ui/toast/", views.kit_toast, name="kit-toast"),
    path("ui/progress/", views.kit_progress, name="kit-progress"),
    path("ui/drawer/", views.kit_drawer, name="kit-drawer"),
]
