"""Benchmarks of rq_actors (not part of the test suite): `python -m bench [--quick|--profile]`.

See docs/PERFORMANCE.md for the method, the figures and the targets.
"""
