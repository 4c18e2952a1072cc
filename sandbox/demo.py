"""Deterministic demo data: a fixed random seed, fixed ids, timestamps relative to now.

This module only builds the rows; `sandbox.loading` writes them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.models import (
    Deployment,
    Flow,
    FlowVersion,
    Package,
    RunWindow,
    SandboxUser,
    VirtualEnvironment,
)

SEED = 20240501

# (name, email, key). Keys are fixed so that the console's demo users and the tests can use them.
USERS = [
    ("Demo Admin", "demo@example.com", "sandbox-demo-key"),
    ("Vera Viewer", "vera@example.com", "sandbox-key-viewer"),
    ("Oscar Operator", "oscar@example.com", "sandbox-key-operator"),
    ("Edie Editor", "edie@example.com", "sandbox-key-editor"),
    ("Adam Admin", "adam@example.com", "sandbox-key-admin"),
    ("Console Service", "console-service@example.com", "sandbox-key-service"),
    ("Dana Dashboard", "dana@example.com", "sandbox-key-dashboard"),
    # People who work in the Patchworks dashboard only, without an API key.
    ("Priya Shah", "priya@example.com", None),
    ("Tom Becker", "tom@example.com", None),
    # A key Patchworks lets read but not write: its writes are answered with 403.
    ("Rita Readonly", "rita@example.com", "sandbox-key-readonly"),
    # The console's demo tester: an Operator in test environments, a Viewer in live ones.
    ("Tess Tester", "tess@example.com", "sandbox-key-tester"),
]
READ_ONLY_KEYS = frozenset({"sandbox-key-readonly"})
# Who enables and deploys in the demo history (indexes into USERS): mostly dashboard people.
ACTORS = [6, 6, 7, 7, 8, 0]

PACKAGES = ["Shopify Connector", "Magento 2 Connector", "NetSuite ERP"]

ENVIRONMENTS = [
    ("UK Live", "live"),
    ("UK Test", "test"),
    ("EU Live", "live"),
    ("EU Staging", "test"),
    ("US Live", "live"),
    ("US Test", "test"),
    ("APAC Live", "live"),
    ("APAC Test", "test"),
    ("Wholesale Live", "live"),
    ("QA", "test"),
]
# An environment nobody has deployed to yet: the environment picker leaves it out.
EMPTY_ENVIRONMENT = ("Disaster Recovery", "live")

FLOWS = [
    "Orders → Shopify",
    "Stock sync: Warehouse → Magento",
    "Customers to HubSpot",
    "Shopify orders → NetSuite",
    "NetSuite fulfilments → Shopify",
    "Magento orders → Sage 200",
    "Products: PIM → Shopify",
    "Prices: NetSuite → Magento",
    "Returns: Loop → NetSuite",
    "Refunds → Xero",
    "Inventory levels → Amazon",
    "Orders: Amazon → NetSuite",
    "Tracking numbers: ShipStation → Shopify",
    "Customers: Shopify → Klaviyo",
    "Gift cards → Magento",
    "Invoices → Xero",
    "Purchase orders → Warehouse",
    "Stock adjustments: Peoplevox → NetSuite",
    "Product images → Magento",
    "Orders: eBay → Linnworks",
    "Abandoned carts → Klaviyo",
    "Loyalty points → Shopify",
    "Store locations → Google Business",
    "Payouts: Stripe → Xero",
    "B2B orders → NetSuite",
    "Dispatch notes → Royal Mail",
    "Customer reviews → Trustpilot",
    "Subscriptions: Recharge → NetSuite",
    "Exchange rates → Magento",
    "Backorder alerts → Email",
    "Catalogue export → Google Shopping",
    "Wholesale price lists → Shopify B2B",
    "Customers to Salesforce",
    "Stock sync: NetSuite → Shopify",
    "Orders → Mirakl marketplace",
    # Never deployed, so that a flow and its versions can have no deployments at all.
    "Nightly order reconciliation",
]


@dataclass
class DemoData:
    users: list[SandboxUser] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    environments: list[VirtualEnvironment] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    versions: list[FlowVersion] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    windows: list[RunWindow] = field(default_factory=list)


def build_demo_data(now: datetime) -> DemoData:
    """The demo rows, unsaved, with explicit ids; the same for the same seed but for `now`."""
    rng = random.Random(SEED)
    data = DemoData()
    data.users = [
        SandboxUser(id=i, name=name, email=email, api_key=key, read_only=key in READ_ONLY_KEYS)
        for i, (name, email, key) in enumerate(USERS, start=1)
    ]
    data.packages = [Package(id=i, name=name) for i, name in enumerate(PACKAGES, start=1)]
    data.environments = [
        VirtualEnvironment(id=i, name=name, type=kind)
        for i, (name, kind) in enumerate([*ENVIRONMENTS, EMPTY_ENVIRONMENT], start=1)
    ]
    for index, name in enumerate(FLOWS, start=1):
        flow = _flow(rng, index, name, now)
        data.flows.append(flow)
        data.versions.extend(_versions(rng, flow, len(data.versions), now))
    deployable = data.flows[:-1]
    slots: list[VirtualEnvironment | None] = [None, *data.environments[: len(ENVIRONMENTS)]]
    for flow in deployable:
        versions = [v for v in data.versions if v.flow_id == flow.id]
        for env in slots:
            if rng.random() < 0.85:
                deployment = _deployment(rng, len(data.deployments) + 1, flow, versions, env, now)
                deployment.user = data.users[rng.choice(ACTORS)]
                if deployment.enabled_at is not None:
                    deployment.enabled_by = data.users[rng.choice(ACTORS)]
                data.deployments.append(deployment)
    data.windows = _run_windows(data.deployments, now)
    return data


def _run_windows(deployments: list[Deployment], now: datetime) -> list[RunWindow]:
    """When each deployment ran: enabled ones since enabled, some failing lately; some disabled
    ones ran until hours ago (a few failing before they were switched off).

    Its own random sequence, so that the deployments above stay as they were.
    """
    rng = random.Random(SEED + 1)
    windows: list[RunWindow] = []
    for deployment in deployments:
        if deployment.enabled_at is not None:
            started, ended = deployment.enabled_at, None
            failing = rng.random() < 0.15
            fails_from = now - timedelta(minutes=rng.uniform(25, 240)) if failing else None
        elif rng.random() < 0.4:
            ended = now - timedelta(hours=rng.uniform(0.5, 30))
            started = ended - timedelta(hours=rng.uniform(6, 120))
            failing = rng.random() < 0.5
            fails_from = ended - timedelta(minutes=rng.uniform(20, 180)) if failing else None
        else:
            continue
        window = RunWindow(
            id=len(windows) + 1,
            deployment_id=deployment.id,
            started_at=started,
            ended_at=ended,
            fails_from=fails_from,
        )
        windows.append(window)
    return windows


def _flow(rng: random.Random, index: int, name: str, now: datetime) -> Flow:
    package = rng.choice([1, 1, 2, 2, 3, 3, None, None])
    return Flow(
        id=index,
        name=name,
        priority=rng.choice([1, 2, 3, 3, 3, 4, 5]),
        package_id=package,
        created_at=now - timedelta(days=rng.uniform(150, 360)),
    )


def _versions(rng: random.Random, flow: Flow, first_id: int, now: datetime) -> list[FlowVersion]:
    count = rng.randint(3, 6)
    versions = []
    for position in range(count):
        if position == count - 1:
            status = rng.choice(["Draft", "Deployed", "Deployed"])
        elif position == count - 2:
            status = "Deployed"
        else:
            status = rng.choice(["Inactive", "Inactive", "Deployed"])
        age = timedelta(days=150 - position * 25 + rng.uniform(0, 10))
        versions.append(
            FlowVersion(
                id=first_id + position + 1, flow_id=flow.id, status=status, created_at=now - age
            )
        )
    return versions


def _deployment(
    rng: random.Random,
    ident: int,
    flow: Flow,
    versions: list[FlowVersion],
    env: VirtualEnvironment | None,
    now: datetime,
) -> Deployment:
    version = rng.choice(versions[-3:])
    created = now - timedelta(days=rng.uniform(1, 90), seconds=rng.randint(0, 3600))
    enabled_at = None
    if rng.random() < 2 / 3:
        enabled_at = created + (now - created) * rng.uniform(0, 0.5)
    return Deployment(
        id=ident,
        flow_version_id=version.id,
        flow_id=flow.id,
        virtual_environment=env,
        priority=rng.choice([None, None, 1, 2, 3, 3, 3, 4, 5]),
        enabled_at=enabled_at,
        created_at=created,
        updated_at=max(created, enabled_at or created) + timedelta(minutes=rng.randint(0, 90)),
    )
