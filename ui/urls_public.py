"""The PWA files on the public domain (root scope there too)."""

from ui.urls import app_name, pwa

urlpatterns = pwa

__all__ = ["app_name", "urlpatterns"]
