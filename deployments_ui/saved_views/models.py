"""A saved view is a page and a query string, under a name, owned by one person."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SavedView(models.Model):
    class Page(models.TextChoices):
        DEPLOYMENTS = "deployments", "Deployments"
        AUDIT = "audit", "Audit log"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=80)
    page = models.CharField(max_length=20, choices=Page.choices)
    # Checked against the page's own parameters and re-encoded before it is stored.
    query = models.CharField(max_length=1000, blank=True)
    shared = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "page", "name"], name="saved_view_unique_name_per_owner_page"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_page_display()})"
