"""People: sign-in (local and SSO), roles and the URL-to-permission table, and the Patchworks API
keys each person (and the background service) stores, encrypted."""
