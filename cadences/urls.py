from django.urls import path

from cadences import views

app_name = "cadences"

urlpatterns = [
    path("cadences/", views.cadence_list, name="list"),
]
