from rest_framework.routers import SimpleRouter

from crm.api import views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="crm-contact")
router.register("tags", views.TagViewSet, basename="crm-tag")
router.register("custom-fields", views.CustomFieldViewSet, basename="crm-custom-field")
router.register("lists", views.ContactListViewSet, basename="crm-list")
router.register("segments", views.SegmentViewSet, basename="crm-segment")
router.register("imports", views.ImportViewSet, basename="crm-import")

urlpatterns = router.urls
