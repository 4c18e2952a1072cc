from django.contrib import admin
from django.urls import include, path

from deployments_ui.views import accounts as account
from deployments_ui.views import health

urlpatterns = [
    path("", include("deployments_ui.urls")),
    path("accounts/login/", account.login, name="login"),
    path("accounts/logout/", account.logout, name="logout"),
    path("account/api-key/", account.api_key, name="api-key"),
    path("settings/service-key/", account.service_key, name="service-key"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

# A lost database is a plain 503 page; anything else the plain 500 page (no traceback either way).
handler500 = "deployments_ui.views.errors.server_error"
