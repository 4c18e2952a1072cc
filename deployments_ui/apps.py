from django.apps import AppConfig


class DeploymentsUiConfig(AppConfig):
    name = "deployments_ui"
    verbose_name = "Deployments Console"

    def ready(self) -> None:
        from deployments_ui.accounts import crypto  # noqa: F401  registers the encryption-key checks
