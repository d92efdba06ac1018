"""Pages of the campaigns app: campaigns and message templates (``app_name = "campaigns"``)."""

from django.urls import path

from campaigns import views, views_templates

app_name = "campaigns"

urlpatterns = [
    path("templates/", views_templates.template_list, name="templates"),
    path("templates/new/", views_templates.template_new, name="template-new"),
    path("templates/live/", views_templates.template_live, name="template-live"),
    path("templates/sync/", views_templates.templates_sync, name="templates-sync"),
    path("templates/contacts/", views_templates.contact_options, name="contact-options"),
    path("templates/<int:pk>/", views_templates.template_detail, name="template"),
    path("templates/<int:pk>/row/", views_templates.template_row, name="template-row"),
    path("templates/<int:pk>/edit/", views_templates.template_edit, name="template-edit"),
    path("templates/<int:pk>/variables/", views_templates.template_variables, name="template-variables"),
    path("templates/<int:pk>/submit/", views_templates.template_submit, name="template-submit"),
    path("templates/<int:pk>/delete/", views_templates.template_delete, name="template-delete"),
    path("campaigns/", views.campaign_list, name="list"),
]
