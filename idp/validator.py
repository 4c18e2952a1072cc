"""Claims: email (verified), name, and the person's Django groups as `groups`."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class GroupsValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups"}

    def validate_silent_login(self, request: Any) -> bool:
        # prompt=none: only reached with a session here (django-oauth-toolkit's view sends
        # anyone else to its sign-in page first).
        return True

    def validate_silent_authorization(self, request: Any) -> bool:
        return True  # the console's client skips the consent page

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "name": user.get_full_name(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": sorted(user.groups.values_list("name", flat=True)),
        }
