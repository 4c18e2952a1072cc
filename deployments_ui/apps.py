from django.apps import AppConfig


class DeploymentsUiConfig(AppConfig):
    name = "deployments_ui"
    verbose_name = "Deployments Console"

    def ready(self) -> None:
        from deployments_ui import middleware  # noqa: F401  notes when each session signed in
        from deployments_ui.accounts import (
            crypto,  # noqa: F401  registers the encryption-key checks
            leaving,
            lockout,  # noqa: F401  audits sign-in failures
        )
        from deployments_ui.audit import (
            chain,  # registers the audit-key check
            stream,  # noqa: F401  registers the stream's check
        )
        from deployments_ui.leavers import cascade, recheck
        from deployments_ui.notifications import outbox

        chain.on_append(outbox.fan_out)
        leaving.use_cascade(cascade.deactivate)
        leaving.use_recheck(recheck.recheck)
