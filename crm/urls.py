from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("contacts/", views.contact_list, name="contacts"),
    path("contacts/count/", views.contact_count, name="contact-count"),
    path("contacts/new/", views.contact_create, name="contact-new"),
    path("contacts/bulk/", views.contact_bulk, name="contact-bulk"),
    path("contacts/bulk/<int:pk>/undo/", views.contact_bulk_undo, name="contact-bulk-undo"),
    path("contacts/export.<str:fmt>", views.contact_export, name="contact-export"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact"),
    path("contacts/<int:pk>/tags/", views.contact_tags, name="contact-tags"),
    path("contacts/<int:pk>/consent/", views.contact_consent, name="contact-consent"),
    path("contacts/<int:pk>/notes/", views.contact_note, name="contact-note"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact-delete"),
    path("contacts/<int:pk>/merge/", views.contact_merge, name="contact-merge"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:pk>/failed/", views.import_failed_rows, name="import-failed"),
    path("audiences/", views.audience_list, name="audiences"),
    path("audiences/lists/<int:pk>/delete/", views.list_delete, name="list-delete"),
    path("audiences/segments/new/", views.segment_edit, name="segment-new"),
    path("audiences/segments/count/", views.segment_count, name="segment-count"),
    path("audiences/segments/<int:pk>/", views.segment_edit, name="segment"),
    path("audiences/segments/<int:pk>/delete/", views.segment_delete, name="segment-delete"),
    path("settings/contacts/", views.crm_settings, name="settings"),
    path("settings/contacts/fields/<int:pk>/", views.custom_field_edit, name="field"),
    path("settings/contacts/fields/<int:pk>/delete/", views.custom_field_delete, name="field-delete"),
    path("settings/contacts/tags/<int:pk>/delete/", views.tag_delete, name="tag-delete"),
]
