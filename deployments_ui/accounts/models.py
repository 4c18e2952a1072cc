"""People's access: the console's permissions, their Patchworks keys and their SSO identities."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop


class ConsoleAccess(models.Model):
    """Holds the console's permissions; roles (Django groups) are built from these."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_deployments", "See deployments, their history and the audit log"),
            ("toggle_deployments", "Enable and disable deployments"),
            ("change_deployments", "Create, edit and delete deployments"),
            ("manage_console", "Manage users, roles, the service key and settings"),
            ("break_glass", "Apply changes without approval or during a freeze, with a reason"),
            (
                "audit_everything",
                "See the whole audit trail (account events, addresses, browsers) and export it",
            ),
        ]

    def __str__(self) -> str:
        return "Console access"


class ApiCredential(models.Model):
    """A person's own Patchworks API key, stored only as Fernet ciphertext."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_credential"
    )
    encrypted_key = models.TextField()
    last_four = models.CharField(max_length=4)
    saved_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"API key ending {self.last_four} for {self.user}"


class ServiceCredential(models.Model):
    """The service key for background jobs (drift detection), set by an admin; one row, pk=1."""

    encrypted_key = models.TextField()
    last_four = models.CharField(max_length=4)
    saved_at = models.DateTimeField(default=timezone.now)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Service key ending {self.last_four}"


class SsoIdentity(models.Model):
    """An identity from single sign-on and the one account it signs in as.

    Single sign-on only ever signs in to accounts that it created itself or that an
    administrator linked here, never to a local account that merely has the same username.
    """

    identity = models.CharField(max_length=254, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on identity"

    def __str__(self) -> str:
        return self.identity


class ScimToken(models.Model):
    """The bearer token the identity provider provisions people with, stored only as a hash.

    One row at most: `manage.py scim_token` replaces it and prints the new token once.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Provisioning token made {self.created_at:%Y-%m-%d %H:%M}"


class ScimGroup(models.Model):
    """A group the identity provider pushes over SCIM; its name maps to a role as the groups
    header's and the OIDC group claim's names do (CONSOLE_SSO_GROUP_ROLES)."""

    display_name = models.CharField(max_length=255, unique=True)
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "provisioned group"

    def __str__(self) -> str:
        return self.display_name


class RoleScope(models.Model):
    """One person's role in one place: an environment type, one environment, or a flow in
    either (accounts.scopes says which scope decides). Outside every scope their role group
    applies. Scopes from the identity provider's groups are replaced at each sign-in; scopes
    an Admin gave are left alone by it."""

    class PlaceType(models.TextChoices):
        TEST = "test", gettext_noop("test environments")
        LIVE = "live", gettext_noop("live environments")
        GLOBAL = "global", gettext_noop("global deployments (no environment)")

    class Source(models.TextChoices):
        CONSOLE = "console", gettext_noop("given in the console")
        SSO = "sso", gettext_noop("from the identity provider's groups")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_scopes"
    )
    role = models.CharField(max_length=20)
    environment_type = models.CharField(max_length=10, blank=True, choices=PlaceType.choices)
    environment_id = models.CharField(max_length=40, blank=True)
    environment_name = models.CharField(max_length=255, blank=True)
    flow_id = models.CharField(max_length=40, blank=True)
    flow_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CONSOLE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "scoped role"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "environment_type", "environment_id", "flow_id"],
                name="one_role_per_place",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} in {self.place}"

    @property
    def place(self) -> str:
        """Where it applies, in words: 'live environments', 'UK Live', 'Orders in UK Live'."""
        if self.environment_id:
            where = self.environment_name or f"environment {self.environment_id}"
        elif self.environment_type:
            where = self.get_environment_type_display()
        else:
            where = "every environment"
        if self.flow_id:
            return f"{self.flow_name or 'flow ' + self.flow_id} in {where}"
        return where

    @property
    def place_shown(self) -> str:
        """`place` in the reader's language (what the audit trail records stays `place`)."""
        if self.environment_id:
            where = self.environment_name or gettext("environment %(id)s") % {
                "id": self.environment_id
            }
        elif self.environment_type:
            where = gettext(self.get_environment_type_display())
        else:
            where = gettext("every environment")
        if not self.flow_id:
            return where
        flow = self.flow_name or gettext("flow %(id)s") % {"id": self.flow_id}
        return gettext("%(name)s in %(place)s") % {"name": flow, "place": where}

    @property
    def shown(self) -> str:
        """'Operator in live environments', in the reader's language."""
        return gettext("%(role)s in %(place)s") % {"role": self.role, "place": self.place_shown}


class PersonLink(models.Model):
    """Two accounts of one person (a local account and a single sign-on identity, or an identity
    renamed at the provider), linked by an Admin (audited). Accounts with the same email address
    are one person without a link (accounts.same_person)."""

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person_links"
    )
    same_as = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "account of the same person"
        constraints = [
            models.UniqueConstraint(fields=["account", "same_as"], name="one_link_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.account} is the same person as {self.same_as}"


class AdminSetPassword(models.Model):
    """A password an Admin set for someone else's account: that account may not approve changes
    for a day after (accounts.same_person.approval_pause)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_set_passwords"
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Password of {self.user} set by an Admin at {self.set_at:%Y-%m-%d %H:%M}"
