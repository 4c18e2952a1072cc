from django.urls import path, register_converter
from django.views.generic import RedirectView

from deployments_ui.core.ids import PatchworksIdConverter
from deployments_ui.views import (
    audit,
    audit_event,
    bulk,
    calendar,
    changes,
    deployment_changes,
    deployments,
    notifications,
    oidc,
    saved_views,
    schedules,
    scim,
    worker,
)

register_converter(PatchworksIdConverter, "pwid")

deployment = "flow-versions/<pwid:flow_version>/deployments/<pwid:deployment>/"

urlpatterns = [
    path("accounts/oidc/start/", oidc.start, name="oidc-start"),
    path("accounts/oidc/callback/", oidc.callback, name="oidc-callback"),
    path("scim/v2/Users", scim.users, name="scim-users"),
    path("scim/v2/Users/<str:resource>", scim.user, name="scim-user"),
    path("scim/v2/Groups", scim.groups, name="scim-groups"),
    path("scim/v2/Groups/<str:resource>", scim.group, name="scim-group"),
    path("scim/v2/ServiceProviderConfig", scim.service_provider_config, name="scim-config"),
    path("", RedirectView.as_view(pattern_name="deployment-list"), name="home"),
    path("deployments/", deployments.deployment_list, name="deployment-list"),
    path("deployments/bulk/", bulk.deployment_bulk, name="deployment-bulk"),
    path("jobs/", bulk.job_list, name="job-list"),
    path("jobs/<int:job>/", bulk.job_detail, name="job-detail"),
    path("jobs/<int:job>/cancel/", bulk.job_cancel, name="job-cancel"),
    path("jobs/<int:job>/retry/", bulk.job_retry, name="job-retry"),
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
    path("audit/<int:pk>/", audit_event.audit_event, name="audit-event"),
    path("audit/<int:pk>/undo/", audit_event.audit_undo, name="audit-undo"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
    path("calendar/", calendar.calendar_page, name="calendar"),
    path("calendar/feed/", calendar.calendar_feed_make, name="calendar-feed"),
    path("calendar/feed/revoke/", calendar.calendar_feed_revoke, name="calendar-feed-revoke"),
    # The feed's secret travels in the query string (?key=), which no access log keeps.
    path("calendar/feed.ics", calendar.calendar_ics, name="calendar-ics"),
    path("saved-views/", saved_views.saved_view_create, name="saved-view-create"),
    path(
        "saved-views/<int:view>/rename/",
        saved_views.saved_view_rename,
        name="saved-view-rename",
    ),
    path(
        "saved-views/<int:view>/delete/",
        saved_views.saved_view_delete,
        name="saved-view-delete",
    ),
    path("changes/", changes.change_list, name="change-list"),
    path("changes/<int:pk>/", changes.change_detail, name="change-detail"),
    path("changes/<int:pk>/approve/", changes.change_approve, name="change-approve"),
    path("changes/<int:pk>/decline/", changes.change_decline, name="change-decline"),
    path("changes/<int:pk>/apply/", changes.change_apply, name="change-apply"),
    path("changes/<int:pk>/edit/", changes.change_edit, name="change-edit"),
    path("changes/<int:pk>/withdraw/", changes.change_withdraw, name="change-withdraw"),
    path(
        "settings/change-control/",
        changes.change_control_settings,
        name="change-control-settings",
    ),
    path("settings/freeze-windows/", changes.freeze_windows, name="freeze-windows"),
]
