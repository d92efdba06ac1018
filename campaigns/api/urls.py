from rest_framework.routers import SimpleRouter

from campaigns.api import views

router = SimpleRouter()
router.register("campaigns/templates", views.TemplateViewSet, basename="campaigns-template")
router.register("campaigns", views.CampaignViewSet, basename="campaigns-campaign")

urlpatterns = router.urls
