"""Each person's own Patchworks API key: verified, encrypted, and only ever read back here.

A key is never logged, put in the session, shown on a page or put in an exception message.
The views and services ask for the signed-in user's key with `api_key_for(user)`; no code path
takes a key, or the id of a stored key, from the request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from deployments_ui.accounts import crypto
from deployments_ui.accounts.models import ApiCredential, ServiceCredential
from deployments_ui.core.words import said
from deployments_ui.patchworks import PatchworksClient, Unauthorized

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 512


class MissingApiKey(Exception):
    """The person has no usable API key: send them to the My API key page."""

    def __init__(self, message: str = "") -> None:
        message = message or said("You have not saved your Patchworks API key yet.")
        super().__init__(message)
        self.message = message


class ApiKeyRejected(ValueError):
    """The key was not saved; `message` says why in plain words (and never contains the key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _ciphertext(user: User) -> str | None:
    if not user.is_authenticated:
        return None
    saved = ApiCredential.objects.filter(user_id=user.pk).values_list("encrypted_key", flat=True)
    return next(iter(saved), None)


# Within one request (`keys_remembered`), each person's key is read and decrypted once, not
# once per read or write the request makes; it is forgotten when the request ends.
_remembered: ContextVar[dict[int, str] | None] = ContextVar("remembered_keys", default=None)


@contextmanager
def keys_remembered() -> Iterator[None]:
    """Read each person's key at most once inside this block (one request's work); a block
    inside another shares the outer one's keys."""
    if _remembered.get() is not None:
        yield
        return
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def _forget(user: User) -> None:
    remembered = _remembered.get()
    if remembered is not None:
        remembered.pop(user.pk, None)


@sensitive_variables("key")
def api_key_for(user: User) -> str:
    """The user's decrypted API key; raises `MissingApiKey` when there is none to use."""
    remembered = _remembered.get()
    if remembered is not None and user.pk in remembered:
        return remembered[user.pk]
    key = _read_key(user)
    if remembered is not None:
        remembered[user.pk] = key
    return key


@sensitive_variables("key")
def _read_key(user: User) -> str:
    ciphertext = _ciphertext(user)
    if ciphertext is None:
        raise MissingApiKey()
    try:
        key = crypto.decrypt(ciphertext)
    except crypto.InvalidToken:
        logger.warning(
            "The stored API key of user %s cannot be decrypted with the configured encryption keys",
            user.pk,
        )
        raise MissingApiKey(
            "Your saved Patchworks API key can no longer be read by the console. "
            "Please save it again."
        ) from None
    return key


@sensitive_variables("raw_key", "key")
def _clean_key(raw_key: str) -> str:
    key = (raw_key or "").strip()
    if not key:
        raise ApiKeyRejected(said("Enter your Patchworks API key."))
    if len(key) > MAX_KEY_LENGTH:
        raise ApiKeyRejected(said("That is too long to be a Patchworks API key."))
    if not key.isascii() or not key.isprintable() or any(char.isspace() for char in key):
        raise ApiKeyRejected(
            said(
                "A Patchworks API key has no spaces or special characters. "
                "Copy it again from Patchworks and paste it here."
            )
        )
    return key


@sensitive_variables("raw_key", "key")
def store_api_key(user: User, raw_key: str) -> ApiCredential:
    """Encrypt and store a key WITHOUT checking it with Patchworks (demo data, imports)."""
    key = _clean_key(raw_key)
    _forget(user)
    credential, _ = ApiCredential.objects.update_or_create(
        user=user,
        defaults={
            "encrypted_key": crypto.encrypt(key),
            "last_four": key[-4:],
            "saved_at": timezone.now(),
        },
    )
    logger.info("User %s saved a Patchworks API key", user.pk)
    return credential


@sensitive_variables("raw_key", "key")
def save_api_key(user: User, raw_key: str) -> ApiCredential:
    """Check the key with Patchworks, then store it encrypted in place of any earlier key.

    Raises `ApiKeyRejected` when the key is malformed or Patchworks refuses it (401); any other
    `PatchworksError` (Patchworks busy, not answering, ...) propagates and nothing is saved.
    """
    return store_api_key(user, _verified_key(raw_key))


@sensitive_variables("raw_key", "key")
def _verified_key(raw_key: str) -> str:
    key = _clean_key(raw_key)
    try:
        PatchworksClient(key).list_deployments(per_page=1)
    except Unauthorized:
        raise ApiKeyRejected(
            said(
                "Patchworks did not accept this API key. Check that you copied all of it, "
                "and that it has not been revoked."
            )
        ) from None
    return key


def remove_api_key(user: User) -> bool:
    """Delete the user's stored key; returns whether there was one."""
    _forget(user)
    deleted, _ = ApiCredential.objects.filter(user=user).delete()
    if deleted:
        logger.info("User %s removed their Patchworks API key", user.pk)
    return bool(deleted)


# The service key, for background jobs


def saved_service_key() -> ServiceCredential | None:
    return ServiceCredential.objects.select_related("saved_by").filter(pk=1).first()


@sensitive_variables("key")
def service_api_key() -> str:
    """The key background jobs use: the one an admin saved, else CONSOLE_SERVICE_API_KEY."""
    credential = saved_service_key()
    if credential is None:
        return settings.CONSOLE_SERVICE_API_KEY
    try:
        return crypto.decrypt(credential.encrypted_key)
    except crypto.InvalidToken:
        logger.warning("The saved service key cannot be decrypted with the configured keys")
        return ""


@sensitive_variables("raw_key", "key")
def save_service_key(user: User, raw_key: str) -> ServiceCredential:
    """Check the key with Patchworks, then store it encrypted as the service key."""
    key = _verified_key(raw_key)
    credential, _ = ServiceCredential.objects.update_or_create(
        pk=1,
        defaults={
            "encrypted_key": crypto.encrypt(key),
            "last_four": key[-4:],
            "saved_at": timezone.now(),
            "saved_by": user,
        },
    )
    logger.info("User %s saved the service key", user.pk)
    return credential


def remove_service_key(user: User) -> bool:
    deleted, _ = ServiceCredential.objects.filter(pk=1).delete()
    if deleted:
        logger.info("User %s removed the service key", user.pk)
    return bool(deleted)


class RotationFailed(Exception):
    """Some stored keys could not be decrypted, so nothing was re-encrypted."""

    def __init__(self, owners: list[str]) -> None:
        self.owners = owners
        super().__init__(
            "These stored API keys cannot be decrypted with the configured encryption keys: "
            f"{', '.join(owners)}. Nothing was changed."
        )


def rotate_all() -> int:
    """Re-encrypt every stored key under the first encryption key; returns how many.

    Raises `RotationFailed` (and changes nothing) if any key cannot be decrypted with the
    configured encryption keys, so an old encryption key is never dropped too early.
    """
    with transaction.atomic():
        credentials = list(ApiCredential.objects.select_for_update().order_by("pk"))
        service = list(ServiceCredential.objects.select_for_update())
        unreadable = []
        rows: list[ApiCredential | ServiceCredential] = [*credentials, *service]
        for credential in rows:
            try:
                credential.encrypted_key = crypto.rotate(credential.encrypted_key)
            except crypto.InvalidToken:
                owner = getattr(credential, "user_id", None)
                unreadable.append(f"user {owner}" if owner else "the service key")
        if unreadable:
            raise RotationFailed(unreadable)
        ApiCredential.objects.bulk_update(credentials, ["encrypted_key"])
        ServiceCredential.objects.bulk_update(service, ["encrypted_key"])
    return len(credentials) + len(service)
