"""console-cli: disable, enable, see and audit deployments through the Deployments Console.

Standard library only, so that it runs wherever Python 3.11 does. It speaks to the console's
REST API (`/api/v1/`) with a personal API token, so every change passes change control like a
click and is recorded under your name and the token's.

    export CONSOLE_URL=https://console.example.com CONSOLE_TOKEN=cpt_...
    console-cli status "Orders" --env "UK Live"
    console-cli disable "Orders" --env "UK Live" --reason "supplier outage" [--at 02:00]
    console-cli enable "Orders" --env "UK Live" --reason "supplier back"
    console-cli audit --since 1h

Exit status: 0 done (or already so, or scheduled), 3 waiting for approval, 1 refused or
failed, 2 wrong use.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Any

DONE, FAILED, USAGE, WAITING = 0, 1, 2, 3
TIMEOUT = 60
PER_PAGE = 100
SINCE = re.compile(r"^(\d+)\s*([mhd])$")


class Failure(Exception):
    """What went wrong, in the console's words (or ours), and the exit status."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.message, self.status = message, status


# Talking to the console


class Console:
    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token

    def call(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "console-cli")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise Failure(_refusal(error)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Failure(f"Could not reach the console at {self.base}: {reason}") from None


def _refusal(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("message") or f"The console answered {error.code}."
    fields = body.get("field_errors") or {}
    details = [f"  {name}: {' '.join(texts)}" for name, texts in fields.items()]
    if error.code == 429 and error.headers.get("Retry-After"):
        details.append(f"  Try again in {error.headers['Retry-After']} s.")
    return "\n".join([message, *details])


# Finding a flow's deployment in an environment


def find(console: Console, flow: str, env: str | None, version: int | None) -> list[dict]:
    query: dict[str, Any] = {"name": flow, "per_page": PER_PAGE}
    _, page = console.call("GET", "/deployments", query=query)
    items = page["items"]
    if env is not None:
        items = [item for item in items if _environment_name(item).casefold() == env.casefold()]
    if version is not None:
        items = [item for item in items if item["version"] == version]
    return items


def _environment_name(item: dict) -> str:
    return (item.get("environment") or {}).get("name") or "global"


def one(console: Console, flow: str, env: str, version: int | None) -> dict:
    items = find(console, flow, env, version)
    if not items:
        raise Failure(f"No deployment of the flow '{flow}' in {env} was found.")
    if len(items) > 1:
        versions = ", ".join(f"v{item['version']}" for item in items)
        raise Failure(
            f"The flow '{flow}' has several deployments in {env} ({versions}): "
            "choose one with --version.",
            USAGE,
        )
    return items[0]


# Times


def at_time(text: str, now: datetime | None = None) -> str:
    """'02:00' is the next 02:00 here; anything else is taken as ISO 8601. Sent with its offset."""
    now = now or datetime.now().astimezone()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise Failure(f"'{text}' is not a time of day.", USAGE)
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if when <= now:
            when += timedelta(days=1)
        return when.isoformat(timespec="minutes")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Failure(f"'{text}' is not a time: use 02:00 or 2026-12-08T02:00.", USAGE) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.isoformat(timespec="minutes")


def local(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone().strftime("%-d %b %Y %H:%M %Z")


def hours_in(since: str) -> int:
    match = SINCE.fullmatch(since.strip())
    if not match:
        raise Failure(f"'{since}' is not a length of time: use e.g. 30m, 1h or 2d.", USAGE)
    minutes = int(match[1]) * {"m": 1, "h": 60, "d": 24 * 60}[match[2]]
    return max(1, math.ceil(minutes / 60))


# The commands


def status(console: Console, args: argparse.Namespace) -> int:
    items = find(console, args.flow, args.env, args.version)
    if not items:
        print("No deployment found.")
        return FAILED
    for item in items:
        state = "enabled" if item["enabled"] else "disabled"
        if item["enabled"] and item["enabled_by"]:
            state += f" by {item['enabled_by']} on {local(item['enabled_at'])}"
        print(f"{item['label']}: {state}")
    return DONE


def change(console: Console, args: argparse.Namespace) -> int:
    item = one(console, args.flow, args.env, args.version)
    path = f"/deployments/{item['flow_version_id']}/{item['id']}"
    body: dict[str, Any] = {"reason": args.reason or "", "confirm_name": args.env}
    if args.at or getattr(args, "until", None):
        body.update(action=args.command, at=at_time(args.at) if args.at else "")
        if getattr(args, "until", None):
            body["until"] = at_time(args.until)
        code, answer = console.call("POST", f"{path}/schedule", body=body)
    else:
        code, answer = console.call("POST", f"{path}/{args.command}", body=body)
    print(answer["message"])
    request = answer.get("change_request")
    if code == 202 and request:
        print(f"Change request {request['id']}: {request['url']}")
        return WAITING
    return DONE


def audit(console: Console, args: argparse.Namespace) -> int:
    # A minute on, so that what happened in this very second is in.
    until = datetime.now().astimezone() + timedelta(minutes=1)
    query: dict[str, Any] = {
        "before": until.isoformat(timespec="seconds"),
        "hours": hours_in(args.since),
    }
    for name in ("person", "action", "flow", "environment"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    _, page = console.call("GET", "/audit", query=query)
    if not page["items"]:
        print(f"Nothing happened in the last {args.since}.")
    for entry in page["items"]:
        print(f"{local(entry['occurred_at'])}  {entry['sentence']}")
    if page["last_page"] > 1:
        print(f"(the newest {len(page['items'])} of {page['total']}: narrow it down)")
    return DONE


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="console-cli",
        description="Work with deployments through the Deployments Console "
        "(CONSOLE_URL and CONSOLE_TOKEN from the environment).",
    )
    commands = top.add_subparsers(dest="command", required=True)
    see = commands.add_parser("status", help="Show a flow's deployments.")
    see.add_argument("flow", help="The flow's exact name.")
    see.add_argument("--env", help="Only in this environment (its name).")
    see.add_argument("--version", type=int, help="Only this version of the flow.")
    see.set_defaults(run=status)
    for name, words in (("disable", "Stop"), ("enable", "Start")):
        command = commands.add_parser(name, help=f"{words} a flow's deployment in an environment.")
        command.add_argument("flow", help="The flow's exact name.")
        command.add_argument("--env", required=True, help="The environment's name, as typed.")
        command.add_argument("--reason", help="Why (needed in live environments).")
        command.add_argument("--at", help="Later: 02:00 (the next one) or 2026-12-08T02:00.")
        command.add_argument("--version", type=int, help="The flow's version, if several.")
        if name == "disable":
            command.add_argument("--until", help="Enable it again then (same forms as --at).")
        command.set_defaults(run=change)
    log = commands.add_parser("audit", help="What happened lately, one sentence per event.")
    log.add_argument("--since", default="1h", help="How far back: 30m, 1h, 2d (default 1h).")
    log.add_argument("--person", help="Name, username or SSO identity.")
    log.add_argument("--action", help="enable, disable, schedule, request, approve ...")
    log.add_argument("--flow", help="Flow name contains.")
    log.add_argument("--environment", help="Environment name contains.")
    log.set_defaults(run=audit)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    url, token = os.environ.get("CONSOLE_URL", ""), os.environ.get("CONSOLE_TOKEN", "")
    if not url or not token:
        print("Set CONSOLE_URL and CONSOLE_TOKEN (a personal API token).", file=sys.stderr)
        return USAGE
    try:
        return args.run(Console(url, token), args)
    except Failure as failure:
        print(failure.message, file=sys.stderr)
        return failure.status


if __name__ == "__main__":
    sys.exit(main())
