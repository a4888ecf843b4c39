"""Stub for the lent GPU machine, which has no ray: recbole.quick_start imports ray.tune (hyper-parameter tuning, unused)."""
