"""URLs served on every host (public domain and company domains)."""

from django.urls import include, path

from tenants.views import signup

urlpatterns = [
    # allauth's sign-up, aware of a pending invitation (no company name asked then)
    path("accounts/signup/", signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
