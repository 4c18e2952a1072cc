"""What every fault test asserts once the stack has recovered, from the sandbox's own request
log and the console's audit trail: no write doubled or lost, every attempt has an outcome, and
the chain verifies."""

from __future__ import annotations

import re
from collections import Counter

from tests.faults.stack import Stack

WRITE = re.compile(r"/deployments/(?P<deployment>[^/]+)/(?P<action>enable|disable)$")
PLAIN_503 = "The console cannot reach its database"


def sandbox_writes(sandbox) -> Counter:
    """The enable and disable writes Patchworks made (a 2xx answer), by deployment and action."""
    made: Counter = Counter()
    for entry in sandbox.requests():
        found = WRITE.search(entry["path"])
        if entry["method"] == "POST" and found and 200 <= (entry["status"] or 0) < 300:
            made[(found["deployment"], found["action"])] += 1
    return made


def last_attempt(stack: Stack) -> int:
    attempts = stack.harness("report")["attempts"]
    return attempts[-1]["id"] if attempts else 0


def settled(stack: Stack, since: int) -> dict | None:
    """The report, once every attempt after `since` has a known outcome; else None."""
    report = stack.harness("report")
    attempts = [attempt for attempt in report["attempts"] if attempt["id"] > since]
    if all(attempt["outcome"] in ("succeeded", "failed") for attempt in attempts):
        report["attempts"] = attempts
        return report
    return None


def assert_consistent(stack: Stack, sandbox, since: int, timeout: float = 100) -> dict:
    """Wait until every attempt since `since` is settled, then check it against the sandbox:
    each write Patchworks made is exactly one succeeded attempt, and each succeeded attempt one
    write Patchworks made."""
    report = stack.wait_for(lambda: settled(stack, since), timeout, "every attempt to settle")
    succeeded = Counter(
        (attempt["deployment"], attempt["action"])
        for attempt in report["attempts"]
        if attempt["outcome"] == "succeeded"
    )
    made = sandbox_writes(sandbox)
    assert succeeded == made, (succeeded, made)
    assert all(count == 1 for count in made.values()), made  # no write doubled
    assert report["chain_ok"], report["chain_problem"]
    return report


def assert_plain(response, *statuses: int) -> None:
    """A page answered in plain words: never a 500 or a traceback."""
    assert response.status_code != 500
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
