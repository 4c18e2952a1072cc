"""The change calendar: past changes, scheduled changes and freeze windows by day, week and
month, "what changed before…", and each person's subscribable feed of what is planned.

`services` gathers entries from the console's own tables (no Patchworks call); `feeds` makes,
finds and revokes feed links and writes the ICS text.
"""
