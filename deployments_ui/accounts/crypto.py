"""Encryption of stored Patchworks API keys with Fernet.

`CONSOLE_ENCRYPTION_KEYS` is a list of Fernet keys: the first encrypts, all of them decrypt,
so a new key can be put first and old ciphertext re-encrypted with `rotate_api_keys`.
Only local development and tests (recognised by the well-known development SECRET_KEY) may
run without keys: they get one derived from SECRET_KEY. Anywhere else, missing keys stop the
console with a plain message instead of silently storing keys under a guessable secret.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]

MISSING_KEYS = (
    "CONSOLE_ENCRYPTION_KEYS is not set. The console needs at least one encryption key to "
    "store people's Patchworks API keys. Make one with: python -c \"from cryptography.fernet "
    'import Fernet; print(Fernet.generate_key().decode())"'
)
MALFORMED_KEY = (
    "CONSOLE_ENCRYPTION_KEYS entry number {position} is not a Fernet key (it must be 32 bytes "
    "in URL-safe base64, as made by Fernet.generate_key())."
)


@sensitive_variables()
def _configured_keys() -> tuple[str, ...]:
    keys = settings.CONSOLE_ENCRYPTION_KEYS
    if isinstance(keys, str):
        keys = keys.split(",")
    return tuple(key.strip() for key in keys if key.strip())


def _uses_dev_secret_key() -> bool:
    return settings.SECRET_KEY == settings.DEV_SECRET_KEY


@sensitive_variables()
def _dev_key() -> str:
    digest = salted_hmac(
        "deployments_ui.accounts.crypto.dev-fernet-key",
        "api-keys",
        secret=settings.SECRET_KEY,
        algorithm="sha256",
    ).digest()
    return base64.urlsafe_b64encode(digest).decode()


@sensitive_variables()
def _keys() -> tuple[str, ...]:
    keys = _configured_keys()
    if keys:
        return keys
    if _uses_dev_secret_key():
        return (_dev_key(),)
    raise ImproperlyConfigured(MISSING_KEYS)


@functools.lru_cache(maxsize=8)
@sensitive_variables()
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # The message names the position only: the key itself must not reach a log.
            raise ImproperlyConfigured(MALFORMED_KEY.format(position=position)) from None
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    return _multi_fernet(_keys())


@sensitive_variables()
def encrypt(plaintext: str) -> str:
    """Encrypt text under the first configured key; returns a Fernet token as text."""
    return _fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    """Decrypt a token made under any configured key; raises `InvalidToken` otherwise."""
    return _fernet().decrypt(token.encode()).decode()


@sensitive_variables()
def rotate(token: str) -> str:
    """Re-encrypt a token under the first configured key."""
    return _fernet().rotate(token.encode()).decode()


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """E001: keys missing outside local development; E002: a key that is not a Fernet key."""
    keys = _configured_keys()
    if not keys:
        if _uses_dev_secret_key():
            return []
        return [checks.Error(MISSING_KEYS, id="deployments_ui.E001")]
    try:
        _multi_fernet(keys)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="deployments_ui.E002")]
    return []
