"""Pages of the cadences app (``app_name = "cadences"``)."""

from django.urls import path

from cadences import views

app_name = "cadences"

urlpatterns = [
    path("cadences/", views.cadence_list, name="list"),
    path("cadences/new/", views.cadence_new, name="new"),
    path("cadences/enrol/", views.enrol_contacts, name="enrol"),
    path("cadences/<int:pk>/", views.cadence_builder, name="builder"),
    path("cadences/<int:pk>/settings/", views.cadence_settings, name="settings"),
    path("cadences/<int:pk>/status/", views.cadence_status, name="status"),
    path("cadences/<int:pk>/steps/", views.step_add, name="step-add"),
    path("cadences/<int:pk>/steps/reorder/", views.steps_reorder, name="steps-reorder"),
    path("cadences/<int:pk>/steps/<int:step_pk>/", views.step_edit, name="step-edit"),
    path("cadences/<int:pk>/steps/<int:step_pk>/delete/", views.step_delete, name="step-delete"),
    path("cadences/<int:pk>/steps/<int:step_pk>/move/", views.step_move, name="step-move"),
    path("cadences/<int:pk>/enrolments/", views.enrollment_list, name="enrollments"),
    path("cadences/<int:pk>/enrol/", views.enrol_segment, name="enrol-segment"),
    path("cadences/<int:pk>/enrolments/<int:enrollment_pk>/unenrol/", views.unenrol, name="unenrol"),
]
