"""Pages of the campaigns app: campaigns and message templates (``app_name = "campaigns"``)."""

from django.urls import path

from campaigns import views, views_inbox, views_links, views_pace, views_templates

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
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/new/variant/", views.campaign_form_variant, name="campaign-form-variant"),
    path("campaigns/new/audience/", views.audience_upload, name="audience-upload"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:pk>/row/", views.campaign_row, name="campaign-row"),
    path("campaigns/<int:pk>/stats/", views.campaign_stats, name="campaign-stats"),
    path("campaigns/<int:pk>/start/", views.campaign_start, name="campaign-start"),
    path("campaigns/<int:pk>/pause/", views.campaign_pause, name="campaign-pause"),
    path("campaigns/<int:pk>/resume/", views.campaign_resume, name="campaign-resume"),
    path("campaigns/<int:pk>/cancel/", views.campaign_cancel, name="campaign-cancel"),
    path("campaigns/<int:pk>/test/", views.campaign_test, name="campaign-test"),
    path("campaigns/<int:pk>/recipients/", views.campaign_recipients, name="campaign-recipients"),
    path("campaigns/<int:pk>/recipients/<int:rid>/", views.campaign_recipient, name="campaign-recipient"),
    path("campaigns/<int:pk>/export.csv", views.campaign_export, name="campaign-export"),
    path("campaigns/numbers/<int:pk>/pace/", views_pace.channel_pace, name="channel-pace"),
    path("inbox/c/<int:pk>/templates/", views_inbox.template_picker, name="inbox-templates"),
    # Tracked links: short, no login, on the company's own domain.
    path("l/<str:code>", views_links.link_redirect, name="link"),
]
