"""A local OpenID Connect provider for the tests and `make run OIDC=1` (never for production).

A tiny Django project on django-oauth-toolkit: its own settings and SQLite database, an RSA
signing key made at start (kept in memory, never written), PKCE required, and demo people
whose groups come back in the `groups` claim (`manage.py idp_setup` makes them).
"""
