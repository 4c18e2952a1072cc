"""Django admin: users and roles come from django.contrib.auth; keys are never shown here.

A stored API key appears only as its owner, last four characters and date, read-only.
Administrators may delete one (for a leaver, say); nobody can add, read or change one here.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from deployments_ui.models import ApiCredential


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    list_display = ("user", "last_four", "saved_at")
    fields = ("user", "last_four", "saved_at")
    readonly_fields = fields
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
