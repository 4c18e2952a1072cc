"""Django admin: users and roles come from django.contrib.auth; keys are never shown here.

A stored API key appears only as its owner, last four characters and date, read-only.
Administrators may delete one (for a leaver, say); nobody can add, read or change one here.

Admins (staff with the people permissions) manage people and their roles, but never
superuser status, individual permissions, or superusers themselves: for anyone but a
superuser, superusers are not listed (their pages, the password page included, answer 404),
and `is_superuser` and `user_permissions` are read-only. Role changes are audited.

No impersonation: an Admin cannot set another person's password here (people change their own
through Django's usual flow, or the identity provider owns it). A superuser (a break-glass
account) may, for an account allowed to sign in with a password; that, and a password given
to a new account, is audited and the account cannot approve changes for a day.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from deployments_ui import audit
from deployments_ui.accounts import leaving, oidc, same_person
from deployments_ui.accounts.models import ApiCredential, SsoIdentity
from deployments_ui.accounts.sso import ROLE_NAMES, role_names
from deployments_ui.audit.models import AuditEvent

logger = logging.getLogger(__name__)
SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions")


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    list_display = ("user", "last_four", "saved_at")
    fields = ("user", "last_four", "saved_at")
    readonly_fields = fields
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ApiCredential) -> None:
        account = obj.user.get_username()
        super().delete_model(request, obj)
        _record(request, AuditEvent.Action.API_KEY_REMOVED, account, "Removed in the admin.")


def _record(request: HttpRequest, action: str, account: str, message: str = "", **states):
    try:
        audit.record_account(
            actor=audit.Actor.from_request(request),
            action=action,
            account=account,
            message=message,
            **states,
        )
    except audit.AuditUnavailable:
        logger.exception("Could not record %s for %s", action, account)


class ConsoleUserAdmin(UserAdmin):
    """People and roles; superuser status and permissions belong to superusers alone."""

    def get_queryset(self, request: HttpRequest):
        people = super().get_queryset(request)
        return people if request.user.is_superuser else people.filter(is_superuser=False)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + SUPERUSER_ONLY_FIELDS

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            # Roles only: a group with other permissions would be a way round the rule.
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_NAMES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = ""):
        target = self.get_object(request, id)
        if target is not None and target.pk != request.user.pk:
            _refuse_password(request, target)
        response = super().user_change_password(request, id, form_url)
        changed = request.method == "POST" and response.status_code == 302
        if changed and target is not None and target.pk != request.user.pk:
            _admin_set_password(request, target)
        return response

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change and obj.has_usable_password():
            _admin_set_password(request, obj)
        if change and "is_active" in form.changed_data:
            # Inside the admin's transaction: the cascade and the save stand or fall together.
            if obj.is_active:
                _record(request, AuditEvent.Action.REACTIVATED, obj.get_username(), "In the admin.")
            else:
                from deployments_ui.leavers.cascade import deactivate

                deactivate(user=obj, actor=audit.Actor.from_request(request), via="the admin page")

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        before = role_names(form.instance) if change else []
        super().save_related(request, form, formsets, change)
        after = role_names(form.instance)
        if before != after:
            _record(
                request,
                AuditEvent.Action.ROLES_CHANGED,
                form.instance.get_username(),
                "Changed in the admin.",
                before={"roles": before},
                after={"roles": after},
            )
            leaving.roles_changed(user=form.instance, actor=audit.Actor.from_request(request))


def _refuse_password(request: HttpRequest, target: User) -> None:
    """Only a superuser sets someone else's password, and only where password sign-in is
    allowed for that account."""
    if not request.user.is_superuser:
        raise PermissionDenied(
            "Admins cannot set other people's passwords: people change their own, or the "
            "identity provider owns them."
        )
    sso_on = bool(settings.SSO_HEADER) or oidc.enabled()
    if not same_person.may_sign_in_locally(target.get_username(), sso_on=sso_on):
        raise PermissionDenied("This account signs in through single sign-on only.")


def _admin_set_password(request: HttpRequest, target: User) -> None:
    same_person.record_admin_password(
        actor=audit.Actor.from_request(request), account=target, admin=request.user
    )


class ConsoleGroupAdmin(GroupAdmin):
    """Roles' permissions are set by migrations; only a superuser may change them here."""

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + ("name", "permissions")


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Link a single sign-on identity to an existing account (audited)."""

    list_display = ("identity", "user", "created_at")
    fields = ("identity", "user")
    search_fields = ("identity", "user__username")
    list_select_related = ("user",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(is_superuser=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest):
        links = super().get_queryset(request)
        return links if request.user.is_superuser else links.filter(user__is_superuser=False)

    def save_model(self, request: HttpRequest, obj: SsoIdentity, form, change: bool) -> None:
        from deployments_ui.accounts.sso import normalise_identity

        obj.identity = normalise_identity(obj.identity) or obj.identity.strip().lower()
        super().save_model(request, obj, form, change)
        _record(
            request,
            AuditEvent.Action.SSO_LINKED,
            obj.user.get_username(),
            f"Single sign-on as {obj.identity} now signs in to this account.",
            after={"identity": obj.identity},
        )


admin.site.unregister(User)
admin.site.register(User, ConsoleUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, ConsoleGroupAdmin)
