"""Sentences about people: who acted, and what happened to a person's account (sign-ins,
lockouts, roles, keys, identities, leaving)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, gettext_noop

from deployments_ui.audit.models import AuditEvent
from deployments_ui.audit.values import stored_part

UNKNOWN_ACTOR = gettext_noop("someone in Patchworks (unknown)")


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
    """The plain sentence for an event about a person's account, in the reader's language;
    "" for other events."""
    if event.action not in ACCOUNT_ACTIONS:
        return ""
    after = event.after if isinstance(event.after, dict) else {}
    before = event.before if isinstance(event.before, dict) else {}
    account = after.get("account") or gettext("an unknown account")
    words = {
        "actor": actor_display(event),
        "account": account,
        "message": stored_part(event.message),
        "identity": after.get("identity", ""),
    }
    own = account == event.actor_username
    if event.action in SIGN_IN_SENTENCES:
        plain, told = SIGN_IN_SENTENCES[event.action]
        if event.action == "unlocked" and event.user_id:
            plain = told = gettext_noop("%(actor)s unlocked sign-in as %(account)s")
        return gettext(told if words["message"] and told else plain) % words
    if event.action == "roles_changed":
        words["old"] = ", ".join(before.get("roles") or []) or gettext("no role")
        words["new"] = ", ".join(after.get("roles") or []) or gettext("no role")
        sentence = gettext("%(actor)s changed the roles of %(account)s from %(old)s to %(new)s")
        return _with_message(sentence % words, words["message"])
    if event.action in LEAVER_SENTENCES:
        words["sessions"] = after.get("sessions", 0)
        words["job"] = after.get("job", "?")
        return _with_message(gettext(LEAVER_SENTENCES[event.action]) % words, words["message"])
    if event.action in ("feed_made", "feed_revoked"):
        return _feed_sentence(event.action, words, own, after)
    if event.action in ("token_made", "token_revoked"):
        return _token_sentence(event.action, words, own, after)
    return _key_sentence(event.action, words, own, after)


# (without the event's message, with it): the message says why.
SIGN_IN_SENTENCES = {
    "sign_in_failed": (
        gettext_noop("Failed sign-in as %(account)s"),
        gettext_noop("Failed sign-in as %(account)s: %(message)s"),
    ),
    "locked_out": (
        gettext_noop("Sign-in as %(account)s paused: %(message)s"),
        gettext_noop("Sign-in as %(account)s paused: %(message)s"),
    ),
    "unlocked": (
        gettext_noop("Sign-in as %(account)s unlocked: %(message)s"),
        gettext_noop("Sign-in as %(account)s unlocked: %(message)s"),
    ),
    "sso_refused": (
        gettext_noop("Single sign-on as %(account)s refused: %(message)s"),
        gettext_noop("Single sign-on as %(account)s refused: %(message)s"),
    ),
    "sso_linked": (
        gettext_noop("%(actor)s linked single sign-on identity %(identity)s to %(account)s"),
        "",
    ),
    "password_set": (
        gettext_noop("%(actor)s set the password of %(account)s"),
        gettext_noop("%(actor)s set the password of %(account)s — %(message)s"),
    ),
}
# Deactivation, provisioning and what they stopped (the event's message follows after " — ").
LEAVER_SENTENCES = {
    "deactivated": gettext_noop("%(actor)s deactivated %(account)s"),
    "reactivated": gettext_noop("%(actor)s reactivated %(account)s"),
    "provisioned": gettext_noop("%(actor)s provisioned %(account)s"),
    "sessions_ended": gettext_noop("%(actor)s ended every session of %(account)s (%(sessions)s)"),
    "bulk_stopped": gettext_noop("%(actor)s stopped bulk job %(job)s of %(account)s"),
    "scim_token": gettext_noop("%(actor)s replaced the provisioning (SCIM) token"),
}


def _with_message(sentence: str, message: str) -> str:
    return f"{sentence} — {message}" if message else sentence


def actor_display(event: AuditEvent) -> str:
    """The person's name, else their SSO identity or username; 'unknown' for Patchworks."""
    name = event.actor_name or event.sso_identity or event.actor_username
    if event.sign_in_method == "schedule":
        return gettext("the schedule of %(name)s") % {"name": name or gettext("an unnamed user")}
    if event.sign_in_method == "token" and event.action not in ACCOUNT_ACTIONS:
        after = event.after if isinstance(event.after, dict) else {}
        words = {"name": name or gettext("an unnamed user"), "token": after.get("token")}
        if after.get("token"):
            return gettext("%(name)s, by token '%(token)s'") % words
        return gettext("%(name)s, by an API token") % words
    if name:
        return name
    if event.source == AuditEvent.Source.PATCHWORKS:
        return gettext(UNKNOWN_ACTOR)
    if event.user_id is None:
        return gettext("someone not signed in")
    return gettext("an unnamed user")


def _feed_sentence(action: str, words: dict[str, Any], own: bool, after: dict[str, Any]) -> str:
    made = action == "feed_made"
    showing = after.get("filters") if made else ""
    words["showing"] = gettext(showing) if showing else ""
    if made:
        sentence = (
            gettext("%(actor)s made a calendar feed link")
            if own
            else gettext("%(actor)s made a calendar feed link of %(account)s")
        )
    else:
        sentence = (
            gettext("%(actor)s revoked the calendar feed link")
            if own
            else gettext("%(actor)s revoked the calendar feed link of %(account)s")
        )
    sentence %= words
    if showing and showing != "Everything":
        return gettext("%(sentence)s showing %(showing)s") % {**words, "sentence": sentence}
    return sentence


def _token_sentence(action: str, words: dict[str, Any], own: bool, after: dict[str, Any]) -> str:
    """'Ann Smith made API token 'nightly maintenance' (read only, expires …)'."""
    words["token"] = after.get("token", "")
    if action == "token_revoked":
        sentence = (
            gettext("%(actor)s revoked API token '%(token)s'")
            if own
            else gettext("%(actor)s revoked API token '%(token)s' of %(account)s")
        )
        return sentence % words
    expires = str(after.get("expires_at", ""))[:10]
    scope = gettext(after["scope"]) if after.get("scope") else ""
    expiry = gettext("expires %(date)s") % {"date": expires}
    words["details"] = ", ".join(part for part in (scope, expiry) if part)
    sentence = (
        gettext("%(actor)s made API token '%(token)s' (%(details)s)")
        if own
        else gettext("%(actor)s made API token '%(token)s' of %(account)s (%(details)s)")
    )
    return sentence % words


def _key_sentence(action: str, words: dict[str, Any], own: bool, after: dict[str, Any]) -> str:
    """Saving or removing a Patchworks API key (a person's own, another's, or the service key)."""
    ending = after.get("ending")
    words["ending"] = ending or ""
    key = "service" if after.get("key") == "service" else ("own" if own else "other")
    return gettext(KEY_SENTENCES[(action == "api_key_saved", bool(ending), key)]) % words


KEY_SENTENCES = {
    (True, True, "service"): gettext_noop("%(actor)s saved the service key (ending %(ending)s)"),
    (True, False, "service"): gettext_noop("%(actor)s saved the service key"),
    (False, True, "service"): gettext_noop("%(actor)s removed the service key"),
    (False, False, "service"): gettext_noop("%(actor)s removed the service key"),
    (True, True, "own"): gettext_noop(
        "%(actor)s saved their Patchworks API key (ending %(ending)s)"
    ),
    (True, False, "own"): gettext_noop("%(actor)s saved their Patchworks API key"),
    (False, True, "own"): gettext_noop("%(actor)s removed their Patchworks API key"),
    (False, False, "own"): gettext_noop("%(actor)s removed their Patchworks API key"),
    (True, True, "other"): gettext_noop(
        "%(actor)s saved the Patchworks API key of %(account)s (ending %(ending)s)"
    ),
    (True, False, "other"): gettext_noop("%(actor)s saved the Patchworks API key of %(account)s"),
    (False, True, "other"): gettext_noop("%(actor)s removed the Patchworks API key of %(account)s"),
    (False, False, "other"): gettext_noop(
        "%(actor)s removed the Patchworks API key of %(account)s"
    ),
}
