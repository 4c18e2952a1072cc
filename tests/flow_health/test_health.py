"""Each deployment's health from one page of runs: fine, failing, not run, unknown; runs told
apart by environment when Patchworks names it, and shared when it does not."""

from __future__ import annotations

from datetime import timedelta

from deployments_ui.flow_health import Kind, Window, assess, window_of
from tests.flow_health.helpers import NOW, WINDOW, at, disabled, enabled, run


def one(deployment, runs, window=WINDOW):
    return assess([deployment], runs, window)[deployment.id]


def test_a_flow_whose_last_run_succeeded_runs_fine_since_its_last_failure():
    runs = [run("14:20"), run("14:10"), run("14:00", "failed"), run("13:50")]
    health = one(enabled(), runs)
    assert health.kind == Kind.FINE and health.since == at("14:10")
    assert health.counts.total == 4 and health.counts.failed == 1
    assert health.last_run.started_at == at("14:20")
    assert health.last_failure.started_at == at("14:00")


def test_a_flow_failing_lately_is_failing_since_its_first_failure_in_a_row():
    runs = [run("14:22", "failed"), run("14:12", "failed"), run("14:02", "failed"), run("13:52")]
    health = one(enabled(), runs)
    assert health.kind == Kind.FAILING and health.since == at("14:02")
    assert health.last_failure.started_at == at("14:22")


def test_a_run_still_going_does_not_hide_the_failures_before_it():
    runs = [run("14:28", "running"), run("14:18", "failed"), run("14:08")]
    health = one(enabled(), runs)
    assert health.kind == Kind.FAILING and health.since == at("14:18")
    assert health.counts.running == 1


def test_runs_arrive_in_any_order():
    runs = [run("14:02", "failed"), run("14:22", "failed"), run("13:52"), run("14:12", "failed")]
    assert one(enabled(), runs).since == at("14:02")


def test_an_enabled_flow_without_runs_in_a_complete_read_has_not_run_since_the_window():
    health = one(enabled(), [])
    assert health.kind == Kind.NOT_RUN and health.since == WINDOW.start


def test_an_enabled_flow_not_seen_in_a_read_that_stopped_short_is_unknown():
    window = Window(start=at("13:40"), complete=False, now=NOW)
    health = one(enabled(), [run("14:00", version="99")], window)
    assert health.kind == Kind.UNKNOWN and health.since is None


def test_a_flow_enabled_within_the_window_has_not_run_since_it_was_enabled():
    health = one(enabled(enabled_at="2026-12-07T14:05:00Z"), [])
    assert health.kind == Kind.NOT_RUN and health.since == at("14:05")


def test_a_regular_flow_that_stopped_has_not_run_since_its_last_run():
    runs = [run("11:00"), run("10:50"), run("10:40"), run("10:30")]
    health = one(enabled(), runs)
    assert health.kind == Kind.NOT_RUN and health.since == at("11:00")


def test_a_disabled_flow_has_not_run_since_its_last_run():
    health = one(disabled(), [run("12:00", "failed"), run("11:50")])
    assert health.kind == Kind.NOT_RUN and health.since == at("12:00")
    assert not health.enabled and health.counts.failed == 1


def test_runs_naming_their_environment_are_told_apart():
    here = enabled(id=1, virtual_environment_id=3)
    there = enabled(id=2, virtual_environment_id=5, virtualEnvironment={"id": 5, "name": "EU"})
    everywhere = enabled(
        id=3, virtual_environment_id=None, virtualEnvironment=None, **{"global": True}
    )
    runs = [
        run("14:20", "failed", environment="3", names_environment=True),
        run("14:20", environment="5", names_environment=True),
        run("14:21", environment=None, names_environment=True),
    ]
    board = assess([here, there, everywhere], runs, WINDOW)
    assert board["1"].kind == Kind.FAILING and board["1"].counts.total == 1
    assert board["2"].kind == Kind.FINE and not board["2"].shared
    assert board["3"].kind == Kind.FINE and board["3"].last_run.started_at == at("14:21")


def test_one_version_deployed_twice_without_environments_in_runs_is_shared():
    first, second = enabled(id=1), enabled(id=2, virtual_environment_id=5, virtualEnvironment=None)
    board = assess([first, second], [run("14:20", "failed")], WINDOW)
    assert board["1"].shared and board["2"].shared
    assert board["1"].kind == Kind.FAILING


def test_a_disabled_copy_of_a_shared_version_claims_no_last_run():
    first, second = enabled(id=1), disabled(id=2, virtual_environment_id=5, virtualEnvironment=None)
    board = assess([first, second], [run("14:20")], WINDOW)
    assert board["2"].kind == Kind.NOT_RUN and board["2"].since is None


def test_other_versions_runs_are_not_counted():
    health = one(enabled(), [run("14:20", "failed", version="12"), run("14:10")])
    assert health.kind == Kind.FINE and health.counts.total == 1


def test_a_read_that_stopped_short_covers_back_to_its_oldest_run():
    runs = [run("14:20"), run("13:40")]
    window = window_of(runs, since=NOW - timedelta(hours=24), has_more=True, now=NOW)
    assert window.start == at("13:40") and not window.complete
    complete = window_of(runs, since=NOW - timedelta(hours=24), has_more=False, now=NOW)
    assert complete.complete and complete.start == NOW - timedelta(hours=24)
