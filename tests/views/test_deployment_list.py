"""The deployments list: filters, sort, paging, htmx swaps and upstream failures."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest

from tests.deployments import sandbox_deployments

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, viewer, on_sandbox):
    client.force_login(viewer)
    return client


def list_queries(sandbox) -> list[dict]:
    return [
        parse_qs(entry["query"])
        for entry in sandbox.requests()
        if entry["path"] == "/api/v1/flow-version-deployments"
    ]


def test_it_lists_deployments_with_every_column(signed_in, on_sandbox):
    first = sandbox_deployments(on_sandbox, "per_page=1")[0]
    response = signed_in.get("/deployments/")
    assert response.status_code == 200
    html = response.content.decode()
    for heading in (
        "Flow",
        "Version",
        "Environment",
        "Package",
        "Priority",
        "State",
        "Enabled at",
        "Enabled by",
        "Created",
    ):
        assert f">{heading}" in html
    assert f'id="deployment-row-{first["id"]}"' in html
    assert "Showing <strong>1–25</strong> of" in html


def test_it_passes_every_filter_to_patchworks(signed_in, on_sandbox):
    environment = sandbox_deployments(on_sandbox, "filter[global]=0")[0]["virtual_environment_id"]
    on_sandbox.clear_requests()
    response = signed_in.get(
        "/deployments/",
        {
            "q": "shop",
            "environment": environment,
            "scope": "no",
            "name": "Orders → Shopify",
            "sort": "-enabled_at",
            "per_page": "50",
            "page": "1",
        },
    )
    assert response.status_code == 200
    query = list_queries(on_sandbox)[-1]
    assert query["filter[LIKE]"] == ["shop"]
    assert query["filter[virtual_environment_id]"] == [str(environment)]
    assert query["filter[global]"] == ["0"]
    assert query["filter[name]"] == ["Orders → Shopify"]
    assert query["sort"] == ["-enabled_at"]
    assert query["per_page"] == ["50"]


def test_every_live_environment_at_once(signed_in, on_sandbox):
    environments = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments"
    ).json()["data"]
    live = {str(env["id"]) for env in environments if env["type"] == "live"}
    assert live and len(live) < len(environments)
    expected = {
        str(item["id"])
        for item in sandbox_deployments(on_sandbox, "filter[global]=0&per_page=100")
        if str(item["virtual_environment_id"]) in live
    }
    signed_in.get("/deployments/")  # pickers cached
    on_sandbox.clear_requests()

    response = signed_in.get("/deployments/?environment=live&per_page=100")

    html = response.content.decode()
    assert '<option value="live" selected>Every live environment</option>' in html
    (query,) = list_queries(on_sandbox)
    assert set(query["filter[virtual_environment_id]"][0].split(",")) == live
    shown = {row.id for row in response.context["page"].items}
    assert {str(item) for item in shown} >= expected
    assert all(row.environment_type == "live" for row in response.context["page"].items)


def test_it_makes_one_upstream_request_per_view_once_pickers_are_cached(signed_in, on_sandbox):
    signed_in.get("/deployments/")
    on_sandbox.clear_requests()
    signed_in.get("/deployments/?sort=flow_name")
    paths = [entry["path"] for entry in on_sandbox.requests()]
    # The list; the runs behind every row's health mark at most once a minute (see
    # test_list_while_reading.py).
    assert "/api/v1/flow-version-deployments" in paths and len(paths) <= 2, paths


def test_it_shows_page_position_and_links(signed_in, on_sandbox):
    response = signed_in.get("/deployments/?per_page=10&page=3")
    html = response.content.decode()
    assert "Showing <strong>21–30</strong>" in html
    assert 'aria-current="page">3<' in html
    assert "page=4" in html and "page=2" in html


def test_sort_headers_flip_direction(signed_in):
    html = signed_in.get("/deployments/?sort=flow_name").content.decode()
    assert 'aria-sort="ascending"' in html
    assert "sort=-flow_name" in html
    html = signed_in.get("/deployments/?sort=-flow_name").content.decode()
    assert 'aria-sort="descending"' in html


def test_htmx_gets_only_the_table(signed_in):
    response = signed_in.get("/deployments/?per_page=10", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="deployment-table"')
    assert "<html" not in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_empty_results_offer_to_clear_filters(signed_in):
    html = signed_in.get("/deployments/?q=no-such-flow-anywhere").content.decode()
    assert "No deployments match these filters" in html
    assert "Clear the filters" in html


def test_nonsense_filters_are_left_out_not_a_500(signed_in):
    response = signed_in.get("/deployments/?environment=999999&per_page=7&sort=DROP&page=-1")
    assert response.status_code == 200
    assert "Some filters were not understood" in response.content.decode()


def test_remote_markup_is_escaped(client, viewer, settings):
    import responses

    settings.PATCHWORKS_BASE_URL = "https://patchworks.test"
    client.force_login(viewer)
    evil = "<script>alert(1)</script>"
    empty = {"data": [], "links": {}, "meta": {"current_page": 1, "last_page": 1, "total": 0}}
    row = {
        "id": 7,
        "flow_version_id": 3,
        "name": evil,
        "enabled_at": None,
        "virtualEnvironment": {"id": 1, "name": evil, "type": "live"},
    }
    page = {**empty, "data": [row], "meta": {**empty["meta"], "total": 1, "from": 1, "to": 1}}
    with responses.RequestsMock() as mocked:
        for path in (
            "flow-version-deployments/virtual-environments",
            "flow-version-deployments/packages",
            "flows",
        ):
            mocked.get(f"https://patchworks.test/api/v1/{path}", json=empty)
        mocked.get("https://patchworks.test/api/v1/flow-version-deployments", json=page)
        html = client.get("/deployments/").content.decode()
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("faults", "status", "words"),
    [
        ({"error_status": 503}, 502, "Patchworks"),
        ({"error_status": 500}, 502, "Patchworks"),
        ({"retry_after": 7}, 429, "try again in 7 seconds"),
        ({"malformed": True}, 502, "could not read"),
    ],
)
def test_upstream_failures_show_a_message(signed_in, on_sandbox, settings, faults, status, words):
    settings.PATCHWORKS_GET_RETRIES = 0
    on_sandbox.set_faults(**faults)
    response = signed_in.get("/deployments/")
    assert response.status_code == status
    assert words in response.content.decode()


def test_an_htmx_table_answers_an_upstream_failure_as_a_fragment(signed_in, on_sandbox, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    signed_in.get("/deployments/")  # the pickers are cached: the table's own read fails
    on_sandbox.set_faults(error_status=503)
    response = signed_in.get("/deployments/?q=order", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 502
    assert response["X-Console-Fragment"] == "1"
    assert body.lstrip().startswith('<section id="deployment-table"')
    assert "not answering properly" in body


def test_a_page_answering_an_upstream_failure_is_not_marked_as_a_fragment(signed_in, on_sandbox):
    on_sandbox.set_faults(error_status=503)
    response = signed_in.get("/deployments/")
    assert response.status_code == 502
    assert not response.has_header("X-Console-Fragment")


def test_a_slow_patchworks_shows_a_timeout_message(signed_in, on_sandbox, settings):
    settings.PATCHWORKS_GET_RETRIES = 0
    settings.PATCHWORKS_READ_TIMEOUT = 0.3
    on_sandbox.set_faults(hang_seconds=1)
    response = signed_in.get("/deployments/")
    assert response.status_code >= 500
    assert "did not answer in time" in response.content.decode()


def test_a_rejected_key_says_to_update_it(client, on_sandbox):
    from tests.factories import make_user

    client.force_login(make_user("bad", "Viewer", api_key="not-a-real-key"))
    response = client.get("/deployments/")
    assert "rejected your API key" in response.content.decode()


def test_someone_without_a_key_is_sent_to_the_key_page(client, db):
    from tests.factories import make_user

    client.force_login(make_user("nokey", "Viewer"))
    response = client.get("/deployments/")
    assert response.status_code == 302
    assert response["Location"] == "/account/api-key/"
    response = client.get("/deployments/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/account/api-key/"


def test_it_rejects_post(signed_in):
    assert signed_in.post("/deployments/").status_code == 405


def test_flow_version_list_shows_only_that_version(signed_in, on_sandbox):
    item = sandbox_deployments(on_sandbox, "filter[global]=0")[0]
    response = signed_in.get(f"/flow-versions/{item['flow_version_id']}/deployments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="deployment-row-{item["id"]}"' in html
    assert html.count('id="deployment-row-') == len(
        on_sandbox.api(
            "GET", f"/api/v1/flow-versions/{item['flow_version_id']}/deployments"
        ).json()["data"]
    )


def test_flow_version_list_of_unknown_version_says_so(signed_in):
    response = signed_in.get("/flow-versions/999999/deployments/")
    assert response.status_code == 404
    assert "no longer exists" in response.content.decode()


def test_the_filter_pickers_keep_the_chosen_values(signed_in, on_sandbox):
    environment = sandbox_deployments(on_sandbox, "filter[global]=0")[0]["virtualEnvironment"]
    html = signed_in.get(f"/deployments/?environment={environment['id']}&per_page=50").content
    html = html.decode()
    assert f'<option value="{environment["id"]}" selected>{environment["name"]}' in html
    assert '<option value="50" selected>50</option>' in html
    assert re.search(r'<select [^>]*name="environment"[^>]* multiple', html)


def test_several_environments_at_once(signed_in, on_sandbox):
    """The picker takes several environments (and a type): Patchworks gets one comma list."""
    environments = on_sandbox.api(
        "GET", "/api/v1/flow-version-deployments/virtual-environments"
    ).json()["data"]
    tests = [str(env["id"]) for env in environments if env["type"] == "test"]
    live = [str(env["id"]) for env in environments if env["type"] == "live"]
    on_sandbox.clear_requests()
    url = f"/deployments/?environment={tests[0]}&environment={live[0]}&per_page=100"
    response = signed_in.get(url)
    assert response.status_code == 200
    listed = [e for e in on_sandbox.requests() if e["path"].endswith("flow-version-deployments")]
    query = parse_qs(listed[-1]["query"])
    assert query["filter[virtual_environment_id]"] == [f"{tests[0]},{live[0]}"]
    html = response.content.decode()
    assert f'<option value="{tests[0]}" selected>' in html
    assert f'<option value="{live[0]}" selected>' in html
    wanted = {str(env["name"]) for env in environments if str(env["id"]) in (tests[0], live[0])}
    names = {row.environment_name for row in response.context["page"].items}
    assert names == wanted, names


def test_new_deployment_picker_offers_a_flows_versions(client, editor, on_sandbox):
    client.force_login(editor)
    item = sandbox_deployments(on_sandbox, "filter[global]=0")[0]
    flow = item["flowVersion"]["flow_id"]
    options = client.get(f"/pickers/flow-versions/?flow={flow}", HTTP_HX_REQUEST="true")
    assert "<html" not in options.content.decode()
    assert f'<option value="{item["flow_version_id"]}">' in options.content.decode()
    page = client.get(f"/pickers/flow-versions/?flow={flow}")
    assert f"/flow-versions/{item['flow_version_id']}/deployments/new/" in page.content.decode()
    chosen = client.get(
        f"/pickers/flow-versions/?flow={flow}&flow_version={item['flow_version_id']}"
    )
    assert chosen["Location"] == f"/flow-versions/{item['flow_version_id']}/deployments/new/"


def test_new_deployment_picker_says_when_versions_cannot_load(client, editor, on_sandbox):
    client.force_login(editor)
    response = client.get("/pickers/flow-versions/?flow=999999", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Could not load versions" in response.content.decode()
