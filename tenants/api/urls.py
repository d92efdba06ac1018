from django.urls import path

from tenants.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="api-token"),
    path("auth/token/refresh/", views.TokenRefreshView_.as_view(), name="api-token-refresh"),
    path("me/", views.MeView.as_view(), name="api-me"),
]
