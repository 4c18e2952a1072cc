from django.urls import path, register_converter
from django.views.generic import RedirectView

from deployments_ui.ids import PatchworksIdConverter
from deployments_ui.views import audit, deployment_changes, deployments

register_converter(PatchworksIdConverter, "pwid")

deployment = "flow-versions/<pwid:flow_version>/deployments/<pwid:deployment>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deployment-list"), name="home"),
    path("deployments/", deployments.deployment_list, name="deployment-list"),
    path(
        "flow-versions/<pwid:flow_version>/deployments/",
        deployments.flow_version_deployment_list,
        name="flow-version-deployment-list",
    ),
    path(
        "flow-versions/<pwid:flow_version>/deployments/new/",
        deployment_changes.deployment_create,
        name="deployment-create",
    ),
    path(deployment, deployments.deployment_detail, name="deployment-detail"),
    path(f"{deployment}edit/", deployment_changes.deployment_edit, name="deployment-edit"),
    path(f"{deployment}delete/", deployment_changes.deployment_delete, name="deployment-delete"),
    path(f"{deployment}enable/", deployment_changes.deployment_enable, name="deployment-enable"),
    path(f"{deployment}disable/", deployment_changes.deployment_disable, name="deployment-disable"),
    path("pickers/flow-versions/", deployments.picker_flow_versions, name="picker-flow-versions"),
    path("audit/", audit.audit_log, name="audit-log"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
