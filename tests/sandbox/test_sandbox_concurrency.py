"""The sandbox under gunicorn's threads: concurrent requests, and racing writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.sandbox.helpers import DEPLOYMENTS, deployment_url, free_slot


def test_it_serves_concurrent_reads_and_writes(sandbox):
    deployments = sandbox.api("GET", DEPLOYMENTS, params={"per_page": 8}).json()["data"]

    def call(index: int) -> int:
        if index % 2:
            return sandbox.api("GET", DEPLOYMENTS, params={"page": index}).status_code
        d = deployments[index // 2]
        return sandbox.api("POST", deployment_url(d, "/disable")).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(16)))
    assert statuses == [200] * 16
    assert len(sandbox.requests()) == 17


def test_only_one_of_racing_creates_takes_an_environment(sandbox):
    version, env = free_slot(sandbox)
    path = f"/api/v1/flow-versions/{version}/deployments"
    body = {"flow_version_id": version, "virtual_environment_id": env}

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(
            pool.map(lambda _: sandbox.api("POST", path, json=body).status_code, range(6))
        )
    assert statuses == [200] + [422] * 5
