from rest_framework.routers import SimpleRouter

from kanban.api import views

router = SimpleRouter()
router.register("kanban/pipelines", views.PipelineViewSet, basename="kanban-pipeline")
router.register("kanban/cards", views.CardViewSet, basename="kanban-card")

urlpatterns = router.urls
