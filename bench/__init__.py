"""trio-relay's benchmark: load generators, a direct no-relay floor, orchestration and a sweep.

``python -m bench --help``; see ``bench/README.md`` and ``docs/benchmarks.md``.
"""
