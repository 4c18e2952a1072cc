"""The app's model registry: each room owns its models; importing them here keeps the app label.

Nothing in the app imports this module (each room imports its own models); Django, the admin,
the tests and the benchmarks do.
"""

from deployments_ui.accounts.models import (  # noqa: F401
    ApiCredential,
    ConsoleAccess,
    ScimGroup,
    ScimToken,
    ServiceCredential,
    SsoIdentity,
)
from deployments_ui.audit.models import (  # noqa: F401
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditStreamCursor,
)
from deployments_ui.bulk.models import BulkItem, BulkJob  # noqa: F401
from deployments_ui.change_calendar.models import CalendarFeed  # noqa: F401
from deployments_ui.changes.models import (  # noqa: F401
    ChangeDecision,
    ChangeRequest,
    ChangeRule,
    FreezeWindow,
)
from deployments_ui.core.models import SyncLease  # noqa: F401
from deployments_ui.drift.models import DeploymentSnapshot  # noqa: F401
from deployments_ui.notifications.models import (  # noqa: F401
    Delivery,
    HealthSeen,
    Subscription,
    Webhook,
)
from deployments_ui.patchworks.models import UpstreamBudget  # noqa: F401
from deployments_ui.saved_views.models import SavedView  # noqa: F401
from deployments_ui.schedules.models import ScheduledChange  # noqa: F401
from deployments_ui.tokens.models import ApiToken  # noqa: F401
