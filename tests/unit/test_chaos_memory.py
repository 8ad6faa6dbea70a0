"""The soak's verdict on memory: per process, over the second half of its last life."""

from __future__ import annotations

import pytest

from tooling.chaos import ChaosReport, second_half_slope


def test_slope_of_a_steady_climb_is_its_rate() -> None:
    # 30 MB every 10 minutes = 180 MB/h, sampled every minute for an hour
    samples = [(60.0 * i, 500 + 3.0 * i) for i in range(61)]
    assert second_half_slope(samples) == pytest.approx(180.0)


def test_warm_up_then_flat_is_a_level_off() -> None:
    # grows 400 MB in the first 20 minutes, then flat for 40: the second half sees 0
    samples = [(60.0 * i, 500 + 20.0 * min(i, 20)) for i in range(61)]
    assert second_half_slope(samples) == pytest.approx(0.0)


def test_too_few_samples_give_no_slope() -> None:
    assert second_half_slope([(0.0, 1.0), (10.0, 2.0)]) is None
    assert second_half_slope([]) is None


def test_a_restarted_process_is_judged_on_its_last_life_only() -> None:
    report = ChaosReport()
    # worker0's first life climbs 1 MB per 10 s (360 MB/h), then it is killed and restarts
    # flat at 300 MB for 10 minutes; the relay is flat at 80 MB throughout
    # (its anonymous memory: 200 MB flat in both lives)
    for i in range(60):
        report.process_samples.append((10.0 * i, "worker0", 100, 400 + i, 200))
        report.process_samples.append((10.0 * i, "cdc", 7, 80, 40))
    for i in range(60, 120):
        report.process_samples.append((10.0 * i, "worker0", 200, 300, 200))
        report.process_samples.append((10.0 * i, "cdc", 7, 80, 40))
    out = report.processes()
    assert out["worker0"] == {
        "lived_min": 9.8,
        "first_mb": 300,
        "peak_mb": 300,
        "last_mb": 300,
        "slope_second_half_mb_per_h": 0.0,
        "anon_first_mb": 200,
        "anon_last_mb": 200,
        "anon_slope_second_half_mb_per_h": 0.0,
    }
    assert out["cdc"]["lived_min"] == 19.8
    assert out["cdc"]["slope_second_half_mb_per_h"] == 0.0


def test_library_pages_touched_are_not_a_leak() -> None:
    report = ChaosReport()
    # the sink's RSS climbs 2 MB a minute (120 MB/h: the engine's code pages being touched)
    # while its anonymous memory stays at 180 MB for the whole hour
    for i in range(61):
        report.process_samples.append((60.0 * i, "sink", 9, 300 + 2.0 * i, 180))
    out = report.processes()["sink"]
    assert out["slope_second_half_mb_per_h"] == pytest.approx(120.0)
    assert out["anon_slope_second_half_mb_per_h"] == 0.0
    assert (out["anon_first_mb"], out["anon_last_mb"]) == (180, 180)
