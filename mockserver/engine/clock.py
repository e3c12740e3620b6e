"""Virtual clock: the only notion of time jobs, retention and webhooks see.

Virtual time is unix seconds (float).  It runs ``scale`` times faster than the wall
clock, can be frozen, and can be moved forward by hand, so tests never sleep.
"""
from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from typing import Any, Callable

#: Segments of the clock's history kept for ``wall_at`` (each scale change, freeze,
#: unfreeze and advance starts one); past this the oldest half is dropped.
HISTORY_MAX = 4096


class VirtualClock:
    """Scaled, freezable, advanceable clock.

    ``now()`` returns virtual unix seconds.  ``scale`` is virtual seconds per wall
    second (100 turns a 150 s generation into 1.5 s).  Raises ValueError for a
    scale that is not positive or an advance that is negative.
    """

    __slots__ = ("_scale", "_anchor_real", "_anchor_virtual", "_frozen", "_monotonic", "_listeners",
                 "_wall", "_seg_virtual", "_seg_wall", "_seg_rate")

    def __init__(
        self,
        scale: float = 1.0,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._monotonic = monotonic
        self._scale = float(scale)
        self._anchor_real = monotonic()
        self._anchor_virtual = wall() if start is None else float(start)
        self._frozen = False
        self._listeners: list[Callable[[], None]] = []
        # History for wall_at: from virtual instant _seg_virtual[i], reached at wall
        # instant _seg_wall[i], the clock ran at _seg_rate[i] virtual s per wall s (0: frozen).
        self._wall = wall
        self._seg_virtual = [self._anchor_virtual]
        self._seg_wall = [wall()]
        self._seg_rate = [self._scale]

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every scale change, freeze, unfreeze and advance
        (the webhook scheduler recomputes its sleep)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        self._segment()
        for listener in self._listeners:
            listener()

    def _segment(self) -> None:
        """Start a history segment at the present instant, as the clock runs now."""
        if len(self._seg_virtual) >= HISTORY_MAX:
            half = HISTORY_MAX // 2
            del self._seg_virtual[:half], self._seg_wall[:half], self._seg_rate[:half]
        self._seg_virtual.append(self.now())
        self._seg_wall.append(self._wall())
        self._seg_rate.append(0.0 if self._frozen else self._scale)

    def wall_at(self, virtual: float) -> float:
        """Wall unix seconds at which the clock first reached virtual instant ``virtual``.

        An instant skipped by an advance maps to the wall time of the advance; one the
        clock has not reached yet is projected at the current scale (the wall time now
        while frozen).  Instants before the oldest kept history segment (the clock's
        start, or ``HISTORY_MAX`` changes ago) are extrapolated from it.
        """
        starts = self._seg_virtual
        i = bisect_right(starts, virtual) - 1
        if i < 0:
            rate = self._seg_rate[0] or self._scale
            return self._seg_wall[0] - (starts[0] - virtual) / rate
        if starts[i] == virtual:
            i = bisect_left(starts, virtual)  # the first segment that stood there
            return self._seg_wall[i]
        rate = self._seg_rate[i]
        if i + 1 < len(starts):
            reached = self._seg_wall[i] + (virtual - starts[i]) / rate if rate else float("inf")
            return min(reached, self._seg_wall[i + 1])
        if not rate:
            return self._wall()
        return self._seg_wall[i] + (virtual - starts[i]) / rate

    def now(self) -> float:
        if self._frozen:
            return self._anchor_virtual
        return self._anchor_virtual + (self._monotonic() - self._anchor_real) * self._scale

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _reanchor(self) -> None:
        self._anchor_virtual = self.now()
        self._anchor_real = self._monotonic()

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._reanchor()
        self._scale = float(scale)
        self._changed()

    def freeze(self) -> None:
        self._reanchor()
        self._frozen = True
        self._changed()

    def unfreeze(self) -> None:
        self._anchor_real = self._monotonic()
        self._frozen = False
        self._changed()

    def advance(self, seconds: float) -> float:
        """Move virtual time forward by ``seconds``; returns the new virtual now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._anchor_virtual += seconds
        self._changed()
        return self.now()

    def snapshot(self) -> dict[str, Any]:
        """Virtual now, scale, whether frozen, and the ``wall_at`` history as
        ``[virtual, wall, rate]`` segments (the state file)."""
        return {"now": self.now(), "scale": self._scale, "frozen": self._frozen,
                "history": [list(s) for s in zip(self._seg_virtual, self._seg_wall, self._seg_rate)]}

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from a snapshot: virtual time resumes where it stood (the time the
        fake was down does not count), at the saved scale, frozen or not; instants
        before the restart keep the wall times they had."""
        self._scale = float(data["scale"])
        self._frozen = bool(data["frozen"])
        self._anchor_virtual = float(data["now"])
        self._anchor_real = self._monotonic()
        history = [(float(v), float(w), float(r)) for v, w, r in data["history"]] or \
            [(self._anchor_virtual, self._wall(), self._scale)]
        self._seg_virtual = [v for v, _, _ in history]
        self._seg_wall = [w for _, w, _ in history]
        self._seg_rate = [r for _, _, r in history]
        self._changed()

    def rebase(self, monotonic: Callable[[], float]) -> None:
        """Read real time from ``monotonic`` from now on, virtual time running on
        unchanged (``time.time`` for a clock shared between hosts)."""
        self._reanchor()
        self._monotonic = monotonic
        self._anchor_real = monotonic()

    def anchors(self) -> tuple[float, float, float, bool]:
        """(virtual instant, the real reading it was anchored at, scale, frozen): what
        another process needs to run the same clock (:meth:`adopt`)."""
        return self._anchor_virtual, self._anchor_real, self._scale, self._frozen

    def adopt(self, virtual: float, real: float, scale: float, frozen: bool) -> None:
        """Run from another process's :meth:`anchors` (same real time source), as if
        the change had been made here (listeners are told)."""
        self._anchor_virtual, self._anchor_real = float(virtual), float(real)
        self._scale, self._frozen = float(scale), bool(frozen)
        self._changed()

    def wall_delay(self, virtual_seconds: float) -> float:
        """Wall seconds until ``virtual_seconds`` of virtual time pass (inf if frozen)."""
        if self._frozen:
            return float("inf")
        return max(0.0, virtual_seconds) / self._scale
