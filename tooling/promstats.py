"""Read a worker's /metrics and summarise histograms (count and estimated quantiles)."""

from __future__ import annotations

from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families


def histogram_buckets(port: int, name: str, by: str) -> dict[str, list[tuple[float, float]]]:
    """Cumulative (upper bound, count) pairs of histogram `name`, summed per label `by`."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                sums[sample.labels.get(by, "")][float(sample.labels["le"])] += sample.value
    return {label: sorted(buckets.items()) for label, buckets in sums.items()}


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus-style estimate: linear interpolation inside the bucket holding rank q."""
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (upper - lower_bound) * share
        lower_bound, lower_count = upper, count
    return lower_bound


def scrape(port: int, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called `name` (a counter's `_total` included)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    # only the lines of `name` are parsed: benchmarks poll this several times a second on the
    # worker's machine, and parsing the whole page cost half a core
    lines = [line for line in text.splitlines() if line.startswith(name)]
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families("\n".join(lines) + "\n")
        for sample in family.samples
        if sample.name == name
    ]
