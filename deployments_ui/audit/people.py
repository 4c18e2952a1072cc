"""Sentences about people: who acted, and what happened to a person's account (sign-ins,
lockouts, roles, keys, identities, leaving)."""

from __future__ import annotations

from typing import Any

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.values import sentence_part

UNKNOWN_ACTOR = "someone in Patchworks (unknown)"


# Events about people rather than deployments, and the details only Admins may see.
ACCOUNT_ACTIONS = frozenset(
    {
        "sign_in_failed",
        "locked_out",
        "unlocked",
        "sso_refused",
        "sso_linked",
        "roles_changed",
        "api_key_saved",
        "api_key_removed",
        "feed_made",
        "feed_revoked",
        "deactivated",
        "reactivated",
        "provisioned",
        "sessions_ended",
        "bulk_stopped",
        "scim_token",
        "password_set",
        "token_made",
        "token_revoked",
    }
)


def account_sentence(event: AuditEvent) -> str:
    """The plain sentence for an event about a person's account; "" for other events."""
    if event.action not in ACCOUNT_ACTIONS:
        return ""
    after = event.after if isinstance(event.after, dict) else {}
    before = event.before if isinstance(event.before, dict) else {}
    account = after.get("account") or "an unknown account"
    actor = actor_display(event)
    message = sentence_part(event.message)
    own = account == event.actor_username
    if event.action == "sign_in_failed":
        sentence = f"Failed sign-in as {account}"
        return f"{sentence}: {message}" if message else sentence
    if event.action == "locked_out":
        return f"Sign-in as {account} paused: {message}"
    if event.action == "unlocked":
        if event.user_id:
            return f"{actor} unlocked sign-in as {account}"
        return f"Sign-in as {account} unlocked: {message}"
    if event.action == "sso_refused":
        return f"Single sign-on as {account} refused: {message}"
    if event.action == "sso_linked":
        return f"{actor} linked single sign-on identity {after.get('identity', '')} to {account}"
    if event.action == "password_set":
        sentence = f"{actor} set the password of {account}"
        return f"{sentence} — {message}" if message else sentence
    if event.action == "roles_changed":
        old = ", ".join(before.get("roles") or []) or "no role"
        new = ", ".join(after.get("roles") or []) or "no role"
        sentence = f"{actor} changed the roles of {account} from {old} to {new}"
        return f"{sentence} — {message}" if message else sentence
    leaver = _leaver_sentence(event.action, actor, account, after)
    if leaver:
        return f"{leaver} — {message}" if message else leaver
    if event.action in ("feed_made", "feed_revoked"):
        made = event.action == "feed_made"
        what = "made a calendar feed link" if made else "revoked the calendar feed link"
        showing = after.get("filters") if made else ""
        sentence = f"{actor} {what}" + ("" if own else f" of {account}")
        return f"{sentence} showing {showing}" if showing and showing != "Everything" else sentence
    if event.action in ("token_made", "token_revoked"):
        return _token_sentence(event.action, actor, account, own, after)
    if after.get("key") == "service":
        what = "the service key"
    else:
        what = "their Patchworks API key" if own else f"the Patchworks API key of {account}"
    if event.action == "api_key_saved":
        ending = f" (ending {after['ending']})" if after.get("ending") else ""
        return f"{actor} saved {what}{ending}"
    return f"{actor} removed {what}"


def actor_display(event: AuditEvent) -> str:
    """The person's name, else their SSO identity or username; 'unknown' for Patchworks."""
    name = event.actor_name or event.sso_identity or event.actor_username
    if event.sign_in_method == "schedule":
        return f"the schedule of {name or 'an unnamed user'}"
    if event.sign_in_method == "token" and event.action not in ACCOUNT_ACTIONS:
        after = event.after if isinstance(event.after, dict) else {}
        token = f"token '{after['token']}'" if after.get("token") else "an API token"
        return f"{name or 'an unnamed user'}, by {token}"
    if name:
        return name
    if event.source == AuditEvent.Source.PATCHWORKS:
        return UNKNOWN_ACTOR
    return "someone not signed in" if event.user_id is None else "an unnamed user"


def _leaver_sentence(action: str, actor: str, account: str, after: dict[str, Any]) -> str:
    """Sentences for deactivation and provisioning; "" for other account events."""
    if action == "deactivated":
        return f"{actor} deactivated {account}"
    if action == "reactivated":
        return f"{actor} reactivated {account}"
    if action == "provisioned":
        return f"{actor} provisioned {account}"
    if action == "sessions_ended":
        return f"{actor} ended every session of {account} ({after.get('sessions', 0)})"
    if action == "bulk_stopped":
        return f"{actor} stopped bulk job #{after.get('job', '?')} of {account}"
    if action == "scim_token":
        return f"{actor} replaced the provisioning (SCIM) token"
    return ""


def _token_sentence(action: str, actor: str, account: str, own: bool, after: dict[str, Any]) -> str:
    """'Ann Smith made API token 'nightly maintenance' (read only, expires …)'."""
    whose = "" if own else f" of {account}"
    if action == "token_revoked":
        return f"{actor} revoked API token '{after.get('token', '')}'{whose}"
    expires = str(after.get("expires_at", ""))[:10]
    details = ", ".join(part for part in (after.get("scope"), f"expires {expires}") if part)
    return f"{actor} made API token '{after.get('token', '')}'{whose} ({details})"
