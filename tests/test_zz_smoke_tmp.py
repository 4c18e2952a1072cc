from deployments_ui.client import PatchworksClient, reset_session

def test_smoke(sandbox, settings):
    settings.PATCHWORKS_BASE_URL = sandbox.url
    reset_session()
    c = PatchworksClient("sandbox-demo-key")
    p = c.list_deployments(per_page=3)
    print(p.total, p.last_page, p.items[0])
    d = p.items[0]
    print(c.get_deployment(d.flow_version_id, d.id))
    print(c.list_virtual_environments().items[:3])
    print(c.list_packages().items)
    fl = c.list_flows(per_page=2)
    print(fl)
    print(c.list_flow_versions(fl.items[0].id).items)
    print(sandbox.requests()[:2])
