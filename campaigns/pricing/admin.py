"""Support staff edit the price table on the public domain's admin."""

from __future__ import annotations

from django.contrib import admin

from campaigns.pricing.models import MessagePrice


@admin.register(MessagePrice)
class MessagePriceAdmin(admin.ModelAdmin):
    list_display = ["kind", "category", "country", "price", "currency", "valid_from", "updated_at"]
    list_filter = ["kind", "category", "currency"]
    list_editable = ["price"]
    search_fields = ["country", "notes"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
