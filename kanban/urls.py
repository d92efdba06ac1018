from django.urls import path

from kanban import views

app_name = "kanban"

urlpatterns = [
    path("pipelines/", views.boards, name="boards"),
    path("pipelines/new/", views.pipeline_new, name="pipeline-new"),
    path("pipelines/<int:pk>/", views.board, name="board"),
    path("pipelines/<int:pk>/totals/", views.board_totals, name="totals"),
    path("pipelines/<int:pk>/stages/<int:stage_id>/cards/", views.column_more, name="column"),
    path("pipelines/<int:pk>/cards/new/", views.card_new, name="card-new"),
    path("pipelines/<int:pk>/cards/from-contacts/", views.cards_from_contacts, name="cards-from-contacts"),
    path("pipelines/<int:pk>/views/", views.view_save, name="view-save"),
    path("pipelines/<int:pk>/views/<int:view_id>/delete/", views.view_delete, name="view-delete"),
    path("pipelines/<int:pk>/settings/", views.pipeline_settings, name="settings"),
    path("pipelines/<int:pk>/ai/", views.decisions, name="decisions"),
    path("pipelines/cards/create/", views.cards_create, name="cards-create"),
    path("cards/<int:pk>/", views.card_drawer, name="card"),
    path("cards/<int:pk>/tile/", views.card_tile, name="card-tile"),
    path("cards/<int:pk>/move/", views.card_move, name="card-move"),
    path("cards/<int:pk>/notes/", views.card_note, name="card-note"),
    path("cards/<int:pk>/fields/", views.card_fields, name="card-fields"),
    path("cards/<int:pk>/suggestions/<int:decision_id>/", views.suggestion, name="suggestion"),
]
