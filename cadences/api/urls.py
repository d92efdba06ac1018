from django.urls import path
from rest_framework.routers import SimpleRouter

from cadences.api import views

router = SimpleRouter()
router.register("cadences/steps", views.StepViewSet, basename="cadences-step")
router.register("cadences/enrollments", views.EnrollmentActionViewSet, basename="cadences-enrollment")
router.register("cadences", views.CadenceViewSet, basename="cadences-cadence")

enrollments = views.EnrollmentViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    path("cadences/<int:cadence_pk>/enrollments/", enrollments, name="cadences-enrollments"),
    *router.urls,
]
