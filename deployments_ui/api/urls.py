"""The REST API's URL patterns, loaded on first use (console/urls.py says why)."""

from deployments_ui.api.site import api

urlpatterns, app_name, _ = api.urls
