"""Throw-away host parts for tests, the benchmark and `vif-driver demo`.

Nothing here is used by the hooks themselves; standard library only.
"""
