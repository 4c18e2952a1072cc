"""The sandbox's routes: the Patchworks API under /api/v1, and the controls under /__sandbox__/."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, path

from sandbox import control, run_views, views

handler400 = "sandbox.web.handler400"
handler403 = "sandbox.web.handler403"
handler404 = "sandbox.web.handler404"
handler500 = "sandbox.web.handler500"

FV = "api/v1/flow-versions/<str:flow_version>/deployments"

urlpatterns: list[URLPattern] = [
    path("api/v1/flow-version-deployments", views.deployment_list),
    path("api/v1/flow-version-deployments/virtual-environments", views.environment_list),
    path("api/v1/flow-version-deployments/packages", views.package_list),
    path(FV, views.flow_version_deployments),
    path(f"{FV}/<str:deployment>", views.deployment_detail),
    path(f"{FV}/<str:deployment>/enable", views.deployment_enable),
    path(f"{FV}/<str:deployment>/disable", views.deployment_disable),
    path("api/v1/flows", views.flow_list),
    path("api/v1/flows/<str:flow>/versions", views.flow_version_list),
    path("api/v1/flow-runs", run_views.flow_run_list),
    path("api/v1/flow-runs/<str:flow_run>/flow-run-logs", run_views.flow_run_logs),
]

if settings.SANDBOX_CONTROL_ENABLED:
    urlpatterns += [
        path("__sandbox__/reset", control.reset),
        path("__sandbox__/faults", control.fault_config),
        path("__sandbox__/requests", control.request_log),
        path("__sandbox__/shape", control.response_shape),
        path("__sandbox__/allowance", control.allowance),
        path("__sandbox__/clock", control.clock),
        path("__sandbox__/flow-versions/<str:flow_version>/delete", control.delete_flow_version),
    ]
