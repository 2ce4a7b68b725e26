"""Tanpu's benchmarks (quality.md): `python -m bench [name ...]`. Never part of the test run.

Each benchmark is a module `bench/<name>.py` exposing `run(ctx: Context) -> dict`;
`bench.harness.Context` gives it a scratch database, an admin, citizens, the
ability to start the real app and the reference app in their own processes,
and a load generator (wrk when installed, else a Python one).
"""
