from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from deployments_ui.views import accounts as account
from deployments_ui.views import health

urlpatterns = [
    path("", include("deployments_ui.urls")),
    path("accounts/login/", account.login, name="login"),
    path("accounts/logout/", account.logout, name="logout"),
    path("account/api-key/", account.api_key, name="api-key"),
    path("settings/service-key/", account.service_key, name="service-key"),
    path("language/", set_language, name="set-language"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
