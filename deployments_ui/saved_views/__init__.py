"""Saved views: a named filter and sort of the deployments list or the audit log, kept for
oneself or shared with everyone. Underneath, each is a plain URL: the page and its query."""
