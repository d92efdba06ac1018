from django.urls import path

from inbox import webhooks

app_name = "inbox"

urlpatterns: list = [
    path("webhooks/whatsapp/<uuid:channel_id>/", webhooks.whatsapp_webhook, name="webhook-whatsapp"),
    path("webhooks/sms/<uuid:channel_id>/", webhooks.sms_webhook, name="webhook-sms"),
]
