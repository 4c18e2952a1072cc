from django.apps import AppConfig


class DeploymentsUiConfig(AppConfig):
    name = "deployments_ui"
    verbose_name = "Deployments Console"

    def ready(self) -> None:
        from deployments_ui.accounts import crypto  # noqa: F401  registers the encryption-key checks
        from deployments_ui.audit import chain
        from deployments_ui.notifications import outbox

        chain.on_append(outbox.fan_out)
