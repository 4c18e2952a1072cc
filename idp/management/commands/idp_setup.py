"""Register the console as a client (PKCE required) and make the demo people with their groups."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application

PASSWORD = "idp-password"
# email, name, groups at the identity provider
PEOPLE = [
    ("alice@example.com", "Alice Admin", ["console-admins"]),
    ("eddie@example.com", "Eddie Editor", ["console-editors", "staff"]),
    ("olga@example.com", "Olga Operator", ["console-operators"]),
    ("vic@example.com", "Vic Viewer", ["console-viewers"]),
    ("ned@example.com", "Ned Nogroup", ["finance"]),
]
GROUP_ROLES = (
    "console-admins=Admin,console-editors=Editor,console-operators=Operator,console-viewers=Viewer"
)


class Command(BaseCommand):
    help = "Register the console's client and the demo people (again: resets them)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--console-url", required=True, action="append", help="e.g. http://127.0.0.1:8000"
        )
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options) -> None:
        consoles = [url.rstrip("/") for url in options["console_url"]]
        Application.objects.filter(client_id=options["client_id"]).delete()
        Application.objects.create(
            name="Deployments Console",
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(f"{url}/accounts/oidc/callback/" for url in consoles),
            post_logout_redirect_uris=" ".join(f"{url}/accounts/login/" for url in consoles),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
        for email, name, groups in PEOPLE:
            self._person(email, name, groups)
        if not options["quiet"]:
            self._print()

    def _person(self, email: str, name: str, groups: list[str]) -> None:
        first, _, last = name.partition(" ")
        User.objects.filter(username=email).delete()
        user = User.objects.create_user(email, email, PASSWORD, first_name=first, last_name=last)
        user.groups.set([Group.objects.get_or_create(name=group)[0] for group in groups])

    def _print(self) -> None:
        roles = dict(item.split("=", 1) for item in GROUP_ROLES.split(","))
        self.stdout.write(f"  Identity provider people (password {PASSWORD}):")
        for email, _name, groups in PEOPLE:
            mapped = [roles[g] for g in groups if g in roles] or ["no role: Viewer by default"]
            self.stdout.write(f"    {email:<20} groups {', '.join(groups):<28} -> {mapped[0]}")
