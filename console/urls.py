from django.contrib import admin
from django.urls import include, path

from deployments_ui.api.site import api
from deployments_ui.views import accounts as account
from deployments_ui.views import health, tokens

urlpatterns = [
    path("", include("deployments_ui.urls")),
    path("accounts/login/", account.login, name="login"),
    path("accounts/logout/", account.logout, name="logout"),
    path("account/api-key/", account.api_key, name="api-key"),
    path("settings/service-key/", account.service_key, name="service-key"),
    path("account/tokens/", tokens.api_tokens, name="api-tokens"),
    path("account/tokens/<int:token>/revoke/", tokens.api_token_revoke, name="api-token-revoke"),
    path("settings/tokens/", tokens.api_token_list, name="api-token-list"),
    path("api/v1/", api.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
