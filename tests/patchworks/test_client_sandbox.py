"""The Patchworks client end to end over real HTTP, against the sandbox and its fault injection.

Retries are counted with the sandbox's request log, so these show what really went over the wire.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from deployments_ui.patchworks import (
    ConnectionFailed,
    Deployment,
    MalformedResponse,
    NotFound,
    PatchworksClient,
    PatchworksError,
    RateLimited,
    ServerError,
    Timeout,
    Unauthorized,
    ValidationFailed,
    reset_session,
)

KEY = "sandbox-demo-key"
ALL = ("flowVersion", "virtualEnvironment", "package", "enabledBy", "user")


@pytest.fixture
def client(sandbox, settings) -> PatchworksClient:
    settings.PATCHWORKS_BASE_URL = sandbox.url
    settings.PATCHWORKS_CONNECT_TIMEOUT = 2.0
    settings.PATCHWORKS_READ_TIMEOUT = 10.0
    settings.PATCHWORKS_GET_RETRIES = 2
    settings.PATCHWORKS_RETRY_AFTER_CAP = 0.2
    reset_session()
    yield PatchworksClient(KEY)
    reset_session()


def api_calls(sandbox, method: str | None = None) -> list[dict]:
    return [r for r in sandbox.requests() if method is None or r["method"] == method]


def all_deployments(client: PatchworksClient, **kwargs) -> list[Deployment]:
    items, page = [], 1
    while True:
        result = client.list_deployments(page=page, per_page=100, **kwargs)
        items += result.items
        if not result.has_next:
            return items
        page += 1


def free_slot(client: PatchworksClient) -> tuple[str, str]:
    """A flow version and an environment where that flow is not yet deployed."""
    taken = {(d.flow_id, d.virtual_environment_id) for d in all_deployments(client)}
    environments = [e.id for e in client.list_virtual_environments().items]
    for flow in client.list_flows().items:
        version = client.list_flow_versions(flow.id).items[-1]
        for environment in environments:
            if (flow.id, environment) not in taken:
                return version.id, environment
    raise AssertionError("the demo data has no free slot")


def enabled_one(client: PatchworksClient) -> Deployment:
    return next(d for d in client.list_deployments(per_page=100).items if d.is_enabled)


# Reads ---------------------------------------------------------------------------------------


def test_it_lists_a_page_with_relations_and_meta(client, sandbox):
    page = client.list_deployments()
    assert len(page.items) == 15
    assert (page.current_page, page.per_page, page.from_index, page.to_index) == (1, 15, 1, 15)
    assert page.total >= 300 and page.last_page == -(-page.total // 15)
    assert page.has_next and not page.has_previous
    first = page.items[0]
    assert first.flow_version is not None and first.flow_version.id == first.flow_version_id
    assert first.flow_name and first.flow_name == first.flow_version.flow.name
    assert first.created_at is not None and first.created_at.tzinfo is not None
    assert any(d.virtual_environment for d in page.items)
    assert any(d.package for d in page.items)
    assert all(d.enabled_by is not None for d in page.items if d.is_enabled)
    [call] = api_calls(sandbox)
    assert call["path"] == "/api/v1/flow-version-deployments"
    assert "include=flowVersion%2CvirtualEnvironment%2Cpackage%2CenabledBy" in call["query"]


def test_it_walks_every_page(client):
    first = client.list_deployments(per_page=100)
    items = all_deployments(client)
    assert len(items) == first.total
    assert len({d.id for d in items}) == first.total
    last = client.list_deployments(page=first.last_page, per_page=100)
    assert not last.has_next and last.has_previous
    assert last.to_index == first.total
    beyond = client.list_deployments(page=first.last_page + 1, per_page=100)
    assert beyond.items == [] and beyond.from_index is None


def test_without_includes_relations_are_empty_but_ids_remain(client):
    deployment = client.list_deployments(include=()).items[0]
    assert deployment.flow_version is None and deployment.virtual_environment is None
    assert deployment.flow_version_id and deployment.flow_name
    with_user = client.list_deployments(include=ALL).items[0]
    assert with_user.user is not None and with_user.user.id == with_user.user_id


def test_it_filters_by_package_and_environment(client):
    packages = client.list_packages().items
    environments = client.list_virtual_environments().items
    by_package = all_deployments(client, filters={"package_id": packages[0].id})
    assert by_package and {d.package_id for d in by_package} == {packages[0].id}
    wanted = [environments[0].id, environments[1].id]
    by_env = all_deployments(client, filters={"virtual_environment_id": wanted})
    assert by_env and {d.virtual_environment_id for d in by_env} == set(wanted)


def test_it_filters_global_flow_name_and_like(client):
    globals_ = client.list_deployments(filters={"global": "1"}, per_page=100).items
    assert globals_ and all(d.is_global and d.virtual_environment is None for d in globals_)
    assert all(d.environment_name == "No environment (global)" for d in globals_)
    sample = client.list_deployments().items[0]
    by_flow = client.list_deployments(filters={"flowVersion.flow": [sample.flow_id]}).items
    assert by_flow and {d.flow_id for d in by_flow} == {sample.flow_id}
    by_name = client.list_deployments(filters={"name": sample.flow_name}).items
    assert by_name and {d.flow_name for d in by_name} == {sample.flow_name}
    fragment = sample.flow_name[1:5].upper()
    by_like = client.list_deployments(filters={"LIKE": fragment}, per_page=100).items
    assert by_like and all(fragment.lower() in d.flow_name.lower() for d in by_like)


@pytest.mark.parametrize(
    "sort,key",
    [
        ("created_at", lambda d: d.created_at),
        ("-created_at", lambda d: d.created_at),
        ("flow_name", lambda d: d.flow_name.lower()),
        ("-flow_version_iteration", lambda d: d.flow_version_iteration),
    ],
)
def test_it_sorts(client, sort, key):
    items = client.list_deployments(sort=sort, per_page=100).items
    values = [key(d) for d in items]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_it_sorts_by_enabled_at(client):
    items = client.list_deployments(sort="-enabled_at", filters={"global": "0"}, per_page=50).items
    stamps = [d.enabled_at for d in items if d.enabled_at is not None]
    assert stamps == sorted(stamps, reverse=True)


def test_it_lists_one_flow_versions_deployments_and_gets_one(client):
    sample = client.list_deployments().items[0]
    page = client.list_flow_version_deployments(sample.flow_version_id)
    assert page.items and {d.flow_version_id for d in page.items} == {sample.flow_version_id}
    fetched = client.get_deployment(sample.flow_version_id, sample.id)
    assert fetched == sample


def test_pickers(client):
    environments = client.list_virtual_environments()
    assert environments.items and {e.type for e in environments.items} <= {"test", "live"}
    assert any(e.is_live for e in environments.items)
    assert "Disaster Recovery" not in {e.name for e in environments.items}
    named = client.list_virtual_environments(name=environments.items[0].name)
    assert [e.id for e in named.items] == [environments.items[0].id]
    assert client.list_packages().items
    flows = client.list_flows(per_page=5)
    assert len(flows.items) == 5 and flows.total > 5
    versions = client.list_flow_versions(flows.items[0].id)
    assert versions.items and {v.flow_id for v in versions.items} == {flows.items[0].id}
    assert [v.iteration for v in versions.items] == list(range(1, len(versions.items) + 1))


def test_a_bad_key_is_unauthorized(client):
    with pytest.raises(Unauthorized) as caught:
        PatchworksClient("not-a-real-key").list_deployments()
    assert caught.value.status == 401


def test_missing_things_are_not_found(client):
    sample = client.list_deployments().items[0]
    with pytest.raises(NotFound) as caught:
        client.get_deployment(sample.flow_version_id, "999999")
    assert caught.value.message == "This deployment no longer exists in Patchworks."
    with pytest.raises(NotFound):
        client.get_deployment(sample.flow_version_id, "abc")
    with pytest.raises(NotFound, match="flow version"):
        client.list_flow_version_deployments("999999")
    with pytest.raises(NotFound, match="flow no longer"):
        client.list_flow_versions("999999")


# Writes --------------------------------------------------------------------------------------


def test_create_get_update_enable_disable_delete(client, sandbox):
    version_id, environment_id = free_slot(client)
    created = client.create_deployment(
        version_id, virtual_environment_id=environment_id, priority=2, deploy_disabled=True
    )
    assert created.flow_version_id == version_id
    assert created.virtual_environment_id == environment_id
    assert (created.priority, created.is_enabled) == (2, False)
    assert client.get_deployment(version_id, created.id, include=ALL).user.name == "Demo Admin"

    updated = client.update_deployment(version_id, created.id, changes={"priority": None})
    assert updated.priority is None
    assert updated.updated_at >= created.updated_at

    enabled = client.enable_deployment(version_id, created.id)
    assert enabled.is_enabled
    again = client.get_deployment(version_id, created.id)
    assert again.enabled_by is not None and again.enabled_by.name == "Demo Admin"
    assert again.enabled_by_id == again.enabled_by.id

    disabled = client.disable_deployment(version_id, created.id)
    assert not disabled.is_enabled and disabled.enabled_by_id is None

    assert client.delete_deployment(version_id, created.id) == "Deployment deleted."
    with pytest.raises(NotFound):
        client.get_deployment(version_id, created.id)
    writes = [r["method"] for r in sandbox.requests() if r["method"] != "GET"]
    assert writes == ["POST", "PUT", "POST", "POST", "DELETE"]


def test_create_global_and_enabled(client):
    taken = {d.flow_id for d in all_deployments(client, filters={"global": "1"})}
    flow = next(f for f in client.list_flows().items if f.id not in taken)
    version = client.list_flow_versions(flow.id).items[0]
    created = client.create_deployment(
        version.id, virtual_environment_id=None, priority=None, deploy_disabled=False
    )
    assert created.is_global and created.is_enabled
    assert created.environment_name == "No environment (global)"


def test_validation_errors_come_back_per_field(client):
    sample = next(d for d in client.list_deployments(per_page=50).items if not d.is_global)
    with pytest.raises(ValidationFailed) as taken:
        client.create_deployment(
            sample.flow_version_id,
            virtual_environment_id=sample.virtual_environment_id,
            priority=None,
            deploy_disabled=True,
        )
    assert taken.value.status == 422
    assert taken.value.field_errors == {
        "virtual_environment_id": [
            "Only one version of a flow may be deployed per virtual environment."
        ]
    }
    with pytest.raises(ValidationFailed) as priority:
        client.update_deployment(sample.flow_version_id, sample.id, changes={"priority": 9})
    assert priority.value.field_errors == {
        "priority": ["The priority field must be between 1 and 5."]
    }
    assert priority.value.message == "The given data was invalid."


def test_update_enabled_at_sends_an_iso_datetime(client):
    sample = enabled_one(client)
    when = sample.enabled_at.replace(microsecond=0)
    updated = client.update_deployment(
        sample.flow_version_id, sample.id, changes={"enabled_at": when}
    )
    assert updated.enabled_at == when
    cleared = client.update_deployment(
        sample.flow_version_id, sample.id, changes={"enabled_at": None}
    )
    assert not cleared.is_enabled


# Faults --------------------------------------------------------------------------------------


def test_latency_is_waited_for(client, sandbox):
    sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    assert client.list_deployments(per_page=5).items
    assert time.monotonic() - started >= 0.3


def test_a_get_is_retried_after_a_503(client, sandbox):
    sandbox.set_faults(error_status=503, methods=["GET"], count=1)
    assert client.list_deployments(per_page=5).items
    assert [r["status"] for r in api_calls(sandbox)] == [503, 200]


def test_a_get_gives_up_after_the_retries(client, sandbox):
    sandbox.set_faults(error_status=503, methods=["GET"])
    with pytest.raises(ServerError) as caught:
        client.list_deployments()
    assert caught.value.status == 503
    assert [r["status"] for r in api_calls(sandbox)] == [503, 503, 503]


@pytest.mark.parametrize("status", [502, 503])
def test_a_write_is_sent_exactly_once(client, sandbox, status):
    sample = enabled_one(client)
    sandbox.clear_requests()
    sandbox.set_faults(error_status=status, methods=["POST", "PUT", "DELETE"])
    with pytest.raises(ServerError) as caught:
        client.disable_deployment(sample.flow_version_id, sample.id)
    assert caught.value.outcome_unknown is (status == 502)
    assert len(api_calls(sandbox)) == 1


def test_429_is_retried_after_the_capped_retry_after(client, sandbox):
    sandbox.set_faults(retry_after=30, methods=["GET"], count=1)
    started = time.monotonic()
    assert client.list_deployments(per_page=5).items
    assert time.monotonic() - started < 3  # capped at 0.2 s, not 30 s
    assert [r["status"] for r in api_calls(sandbox)] == [429, 200]


def test_persistent_429_is_rate_limited(client, sandbox):
    sandbox.set_faults(retry_after=30)
    with pytest.raises(RateLimited) as caught:
        client.list_deployments(per_page=5)
    assert caught.value.retry_after == 30
    assert caught.value.message == "Patchworks is busy — try again in 30 seconds."
    assert len(api_calls(sandbox, "GET")) == 3
    sandbox.clear_requests()
    with pytest.raises(RateLimited):
        client.enable_deployment("1", "1")
    assert len(api_calls(sandbox)) == 1


def test_a_hanging_read_times_out_once(client, sandbox, settings):
    settings.PATCHWORKS_READ_TIMEOUT = 0.5
    sandbox.set_faults(hang_seconds=5, methods=["GET"])
    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        client.list_deployments(per_page=5)
    assert time.monotonic() - started < 3  # the read timeout, not the 5 s hang
    assert caught.value.outcome_unknown is False
    assert len(api_calls(sandbox, "GET")) == 1


def test_a_hanging_write_has_an_unknown_outcome(client, sandbox, settings):
    sample = enabled_one(client)
    sandbox.clear_requests()
    settings.PATCHWORKS_READ_TIMEOUT = 0.5
    sandbox.set_faults(hang_seconds=2, methods=["POST"])
    with pytest.raises(Timeout) as caught:
        client.disable_deployment(sample.flow_version_id, sample.id)
    assert caught.value.outcome_unknown is True
    assert caught.value.message == (
        "Patchworks did not answer in time, so we don't know whether the change was made. "
        "Open the deployment to check."
    )
    assert len(api_calls(sandbox, "POST")) == 1
    # And indeed the change lands after all: wait for it, so the next test starts clean.
    settings.PATCHWORKS_READ_TIMEOUT = 10.0
    deadline = time.monotonic() + 10
    while client.get_deployment(sample.flow_version_id, sample.id).is_enabled:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_malformed_body(client, sandbox):
    sample = enabled_one(client)
    sandbox.set_faults(malformed=True)
    with pytest.raises(MalformedResponse) as read:
        client.list_deployments()
    with pytest.raises(PatchworksError) as write:
        client.disable_deployment(sample.flow_version_id, sample.id)
    assert read.value.outcome_unknown is False
    # The disable answered 200: it was done, though neither its body nor a read-back was readable.
    assert write.value.written is True
    assert write.value.outcome_unknown is False


def test_nobody_listening(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.PATCHWORKS_BASE_URL = f"http://127.0.0.1:{port}"
    reset_session()
    client = PatchworksClient(KEY)
    with pytest.raises(ConnectionFailed) as read:
        client.list_deployments()
    with pytest.raises(ConnectionFailed) as write:
        client.enable_deployment("1", "2")
    assert read.value.message == "Patchworks could not be reached. Try again in a minute."
    assert write.value.outcome_unknown is False
    reset_session()


def test_the_key_stays_out_of_the_logs(client, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    client.list_deployments(per_page=5)
    sandbox.set_faults(error_status=503, methods=["GET"], count=1)
    client.list_deployments(per_page=5)
    with pytest.raises(Unauthorized):
        PatchworksClient("another-secret-key-123").list_deployments()
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert "GET /flow-version-deployments 200 in" in caplog.text
    assert KEY not in caplog.text and "another-secret-key-123" not in caplog.text


def test_concurrent_calls_share_the_pool_but_never_the_key(client, sandbox):
    keys = {
        "sandbox-demo-key": "Demo Admin",
        "sandbox-key-viewer": "Vera Viewer",
        "sandbox-key-operator": "Oscar Operator",
        "sandbox-key-editor": "Edie Editor",
    }
    errors: list[BaseException] = []

    def work(key: str) -> None:
        try:
            for _ in range(3):
                PatchworksClient(key).list_deployments(per_page=5, include=())
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(key,)) for key in keys for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    users = [r["user"] for r in api_calls(sandbox)]
    assert sorted(users) == sorted(name for name in keys.values() for _ in range(6))


@pytest.mark.parametrize("key", ["ключ-sandbox", "sandbox-demo-key\n"])
def test_a_key_that_cannot_go_in_a_header(client, sandbox, key):
    with pytest.raises(Unauthorized) as caught:
        PatchworksClient(key).list_deployments()
    assert key.strip() not in repr(caught.value.__dict__) + str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert api_calls(sandbox) == []
