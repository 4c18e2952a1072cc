"""A person's permissions read in one query (their own and their groups'), where Django's
ModelBackend makes two: every page checks them before its first upstream read.

Listed before ModelBackend, it fills the same per-user cache (`_perm_cache`), so ModelBackend
answers from it. It signs nobody in and loads no user (no `get_user`: the test client's
`force_login` and `auth.get_user` use the backends that do).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryPermissions:
    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            held = Permission.objects.all()
            if not user_obj.is_superuser:
                held = held.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = held.values_list("content_type__app_label", "codename").order_by()
            user_obj._perm_cache = {f"{app}.{codename}" for app, codename in names.distinct()}
        return user_obj._perm_cache

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)
