"""Virtual clock: the only notion of time jobs, retention and webhooks see.

Virtual time is unix seconds (float).  It runs ``scale`` times faster than the wall
clock, can be frozen, and can be moved forward by hand, so tests never sleep.
"""
from __future__ import annotations

import time
from typing import Callable


class VirtualClock:
    """Scaled, freezable, advanceable clock.

    ``now()`` returns virtual unix seconds.  ``scale`` is virtual seconds per wall
    second (100 turns a 150 s generation into 1.5 s).  Raises ValueError for a
    scale that is not positive or an advance that is negative.
    """

    __slots__ = ("_scale", "_anchor_real", "_anchor_virtual", "_frozen", "_monotonic", "_listeners")

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

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every scale change, freeze, unfreeze and advance
        (the webhook scheduler recomputes its sleep)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

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

    def wall_delay(self, virtual_seconds: float) -> float:
        """Wall seconds until ``virtual_seconds`` of virtual time pass (inf if frozen)."""
        if self._frozen:
            return float("inf")
        return max(0.0, virtual_seconds) / self._scale
