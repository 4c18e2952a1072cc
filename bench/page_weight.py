"""Page weight of the deployment pages: what a person's browser downloads. Run by hand.

Against a console and sandbox started the way `make run` starts them (demo users, password
"demo-password"), in another terminal:

    make run                                   # console on :8000, sandbox on :8001
    .venv/bin/python bench/page_weight.py      # or --url http://host:port --user operator

It signs in as the operator and prints one line each:

- the list page at per_page=100: HTML bytes, raw and gzip-compressed;
- an enable/disable htmx fragment (the swapped row): raw and gzip;
- the first list page load: HTML + the CSS and JS it references, gzip-compressed, in total.

Sizes are of the decoded bodies, compressed here with gzip level 6 (a common proxy default), so
the figures do not depend on how the server happens to compress. To measure the fragment it
disables and re-enables (or enables and re-disables) the first deployment on the list, with the
reason "page-weight bench": both writes reach the sandbox and the audit log. Point it only at a
sandbox, never at a console connected to the real Patchworks.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

GZIP_LEVEL = 6
REASON = "page-weight bench"


def gzipped(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=GZIP_LEVEL))


def sizes(label: str, body: bytes) -> str:
    return f"{label}: {len(body):,} B raw, {gzipped(body):,} B gzip"


class Assets(HTMLParser):
    """The stylesheets and scripts a page references."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"])
        elif tag == "link" and (values.get("rel") or "").lower() == "stylesheet":
            self.urls.append(values["href"] or "")


def sign_in(session: requests.Session, base: str, user: str, password: str) -> None:
    login = session.get(f"{base}/accounts/login/", timeout=30)
    login.raise_for_status()
    answer = session.post(
        f"{base}/accounts/login/",
        data={
            "username": user,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login.url},
        timeout=30,
    )
    answer.raise_for_status()
    if "/accounts/login/" in answer.url:
        sys.exit(f"Could not sign in as {user!r}: check the user and password (see --help).")


def get(session: requests.Session, url: str) -> bytes:
    response = session.get(url, timeout=60)
    response.raise_for_status()
    return response.content


def toggle(session: requests.Session, base: str, action_path: str, next_url: str) -> bytes:
    """One enable or disable as htmx sends it from a list row; the fragment that comes back."""
    response = session.post(
        urljoin(base, action_path),
        data={"fragment": "row", "next": next_url, "reason": REASON},
        headers={
            "HX-Request": "true",
            "HX-Current-URL": urljoin(base, next_url),
            "X-CSRFToken": session.cookies["csrftoken"],
            "Referer": urljoin(base, next_url),
        },
        timeout=60,
    )
    if response.status_code != 200:
        sys.exit(
            f"The {action_path} request answered {response.status_code}: {response.text[:300]}"
        )
    return response.content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running console")
    parser.add_argument("--user", default="operator", help="a user who may enable and disable")
    parser.add_argument("--password", default="demo-password")
    args = parser.parse_args()
    base = args.url.rstrip("/")

    session = requests.Session()
    sign_in(session, base, args.user, args.password)

    big = get(session, f"{base}/deployments/?per_page=100")
    print(sizes("List page HTML, 100 rows", big))

    first = get(session, f"{base}/deployments/")
    actions = re.findall(
        r'action="(/flow-versions/[^"]+/deployments/[^"]+/(?:enable|disable)/)"', first.decode()
    )
    if not actions:
        sys.exit("No enable or disable button on the list: is this user an operator?")
    there = toggle(session, base, actions[0], "/deployments/")
    back_path = re.sub(r"(enable|disable)/$", lambda m: _opposite(m.group(1)), actions[0])
    back = toggle(session, base, back_path, "/deployments/")
    print(
        sizes(f"Toggle fragment (htmx row, {actions[0].rsplit('/', 2)[-2]})", there)
        + f"; the reverse: {len(back):,} B raw, {gzipped(back):,} B gzip"
    )

    parser_ = Assets()
    parser_.feed(first.decode())
    assets = {url: get(session, urljoin(f"{base}/deployments/", url)) for url in parser_.urls}
    total = gzipped(first) + sum(gzipped(body) for body in assets.values())
    parts = ", ".join(f"{url.rsplit('/', 1)[-1]} {gzipped(body):,}" for url, body in assets.items())
    print(
        f"First list page load (HTML + CSS + JS), gzip: {total:,} B "
        f"(HTML {gzipped(first):,}, {parts})"
    )


def _opposite(action: str) -> str:
    return ("disable" if action == "enable" else "enable") + "/"


if __name__ == "__main__":
    main()
