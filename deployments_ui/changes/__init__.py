"""Change control: rules per environment, change requests with approvals, freeze windows.

`services.gate` is the one check every write path calls before it sends anything;
`services.freeze_in_force` tells a scheduler whether a change may run at a given time.
"""
