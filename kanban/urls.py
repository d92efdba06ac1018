from django.urls import path

from kanban import views

app_name = "kanban"

urlpatterns = [
    path("pipelines/", views.boards, name="boards"),
]
