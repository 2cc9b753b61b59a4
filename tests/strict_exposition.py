"""A strict reading of a Prometheus text exposition (what ``promtool check metrics`` insists on):
it parses, and every family's HELP and TYPE lines appear exactly once."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def strict_samples(text: str) -> Samples:
    """The exposition's samples by (name, sorted labels); AssertionError if it is not strict."""
    for kind in ("HELP", "TYPE"):
        seen = Counter(
            line.split()[2] for line in text.splitlines() if line.startswith(f"# {kind} ")
        )
        repeated = {name: n for name, n in seen.items() if n > 1}
        assert not repeated, f"{kind} repeated: {repeated}"
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    assert types == helps, types ^ helps
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"sample repeated: {key}"
            found[key] = sample.value
    return found
