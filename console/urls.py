from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from console.lazy_urls import LazyInclude
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
    # The REST API for scripts, loaded by the first request that needs it: its libraries
    # (django-ninja, pydantic) would add about 14 MB to every worker, also to the many that only
    # ever serve people's pages.
    LazyInclude("api/v1/", "deployments_ui.api.urls", namespace="api"),
    path("language/", set_language, name="set-language"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

# A lost database is a plain 503 page; anything else the plain 500 page (no traceback either way).
handler500 = "deployments_ui.views.errors.server_error"
