from django.urls import path
from django.views.generic import RedirectView

from deployments_ui.notifications import views as notifications
from deployments_ui.schedules import views as schedules
from deployments_ui.views import audit, deployment_changes, deployments
from deployments_ui.worker import views as worker

deployment = "flow-versions/<str:flow_version>/deployments/<str:deployment>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deployment-list"), name="home"),
    path("deployments/", deployments.deployment_list, name="deployment-list"),
    path(
        "flow-versions/<str:flow_version>/deployments/",
        deployments.flow_version_deployment_list,
        name="flow-version-deployment-list",
    ),
    path(
        "flow-versions/<str:flow_version>/deployments/new/",
        deployment_changes.deployment_create,
        name="deployment-create",
    ),
    path(deployment, deployments.deployment_detail, name="deployment-detail"),
    path(f"{deployment}edit/", deployment_changes.deployment_edit, name="deployment-edit"),
    path(f"{deployment}delete/", deployment_changes.deployment_delete, name="deployment-delete"),
    path(f"{deployment}enable/", deployment_changes.deployment_enable, name="deployment-enable"),
    path(f"{deployment}disable/", deployment_changes.deployment_disable, name="deployment-disable"),
    path("pickers/flow-versions/", deployments.picker_flow_versions, name="picker-flow-versions"),
    path(f"{deployment}schedule/", schedules.deployment_schedule, name="deployment-schedule"),
    path("schedules/", schedules.schedule_list, name="schedule-list"),
    path("schedules/<int:change>/cancel/", schedules.schedule_cancel, name="schedule-cancel"),
    path("schedules/<int:change>/move/", schedules.schedule_move, name="schedule-move"),
    path("settings/worker/", worker.worker_page, name="worker-status"),
    path(
        "settings/notifications/",
        notifications.notification_settings,
        name="notification-settings",
    ),
    path(
        "settings/notifications/<int:subscription>/edit/",
        notifications.notification_edit,
        name="notification-edit",
    ),
    path(
        "settings/notifications/<int:subscription>/delete/",
        notifications.notification_delete,
        name="notification-delete",
    ),
    path("settings/webhooks/", notifications.webhook_list, name="webhook-list"),
    path("settings/webhooks/new/", notifications.webhook_create, name="webhook-create"),
    path("settings/webhooks/<int:webhook>/", notifications.webhook_detail, name="webhook-detail"),
    path("settings/webhooks/<int:webhook>/edit/", notifications.webhook_edit, name="webhook-edit"),
    path(
        "settings/webhooks/<int:webhook>/delete/",
        notifications.webhook_delete,
        name="webhook-delete",
    ),
    path("settings/webhooks/<int:webhook>/test/", notifications.webhook_test, name="webhook-test"),
    path("audit/", audit.audit_log, name="audit-log"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
