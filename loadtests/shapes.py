"""Load shapes for the scenarios: how many users run at each moment of a test.

Each shape is a plan of stages computed from three numbers locust already takes:
the peak user count (``-u``), the spawn rate (``-r``, users started or stopped per
second) and the run time (``-t``).  ``loadtests/locustfile.py`` exposes them as one
``LoadTestShape`` picked with ``--shape``:

``constant``  ``-u`` users for the whole run (what locust does without a shape).
``ramp``      climb linearly to ``-u`` over the first 60 % of the run, hold to 90 %, then
              ramp down to zero: where does latency start to bend?
``step``      five equal steps up to ``-u`` (20 %, 40 % ... 100 %), each held for a fifth of
              the run: the throughput and end-to-end time at each level.
``spike``     a fifth of ``-u`` as the baseline, the full ``-u`` for the middle 20 % of the
              run (spawned at 10x the spawn rate), then back to baseline: recovery after
              a burst, such as a marketing push or a retry storm.
``soak``      half of ``-u``, held for the whole run: leaks, retention and slow drift
              show only over a long run (give it ``-t 1h`` or more).

Pure functions of their inputs (no locust import here), so they are unit-tested
without running locust: ``stage_at(shape, elapsed_s, users, rate, duration_s)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SHAPES = ("constant", "ramp", "step", "spike", "soak")


@dataclass(frozen=True, slots=True)
class Stage:
    """Run ``users`` users, changing towards that count at ``rate`` users per second."""

    users: int
    rate: float


def stage_at(shape: str, elapsed_s: float, users: int, rate: float, duration_s: float) -> Stage | None:
    """The stage of ``shape`` ``elapsed_s`` seconds into a run of ``duration_s`` with
    peak ``users`` and spawn ``rate``; None once the run is over (locust then stops).

    Raises ValueError for an unknown shape, a duration that is not positive, fewer
    than one user or a rate that is not positive.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if not duration_s > 0:
        raise ValueError("a shape needs a positive run time (-t)")
    if users < 1 or not rate > 0:
        raise ValueError("a shape needs at least one user (-u) and a positive spawn rate (-r)")
    if elapsed_s >= duration_s:
        return None
    frac = elapsed_s / duration_s
    if shape == "constant":
        return Stage(users, rate)
    if shape == "ramp":
        if frac < 0.6:
            # One more user every (0.6 * duration / users) seconds, never fewer than one.
            return Stage(max(1, math.ceil(users * frac / 0.6)), rate)
        if frac < 0.9:
            return Stage(users, rate)
        # Ramp down: reach zero at the end (locust keeps at least the stage asked).
        return Stage(max(0, math.floor(users * (1.0 - frac) / 0.1)), rate)
    if shape == "step":
        step = min(4, int(frac * 5))
        return Stage(max(1, math.ceil(users * (step + 1) / 5)), rate)
    if shape == "spike":
        base = max(1, users // 5)
        if 0.4 <= frac < 0.6:
            return Stage(users, rate * 10)
        return Stage(base, rate * 10 if frac >= 0.6 else rate)
    # soak
    return Stage(max(1, users // 2), rate)


def describe(shape: str, users: int, rate: float, duration_s: float, points: int = 20) -> str:
    """The plan sampled at ``points`` even moments, one line per change, for a run's log."""
    lines, last = [], None
    for i in range(points):
        t = duration_s * i / points
        stage = stage_at(shape, t, users, rate, duration_s)
        if stage is not None and stage.users != last:
            lines.append(f"  t={t:7.1f}s  users={stage.users:<5} spawn rate={stage.rate:g}/s")
            last = stage.users
    lines.append(f"  t={duration_s:7.1f}s  end")
    return "\n".join(lines)
