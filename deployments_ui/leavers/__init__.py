"""Leavers: when a person is deactivated, by any route, everything they left running stops.

The routes are SCIM (active=false or delete), the identity provider's groups dropping every
console role (header or OpenID Connect), and an administrator unticking "active" in the admin.
All of them call `cascade.deactivate`. The room sits above accounts, changes, schedules and bulk.
"""
