"""Small helpers the stores share to write their state as JSON and read it back
(the state file, ``mockserver/engine/statefile.py``)."""
from __future__ import annotations

import itertools
import random
from typing import Any


def rng_state(rng: random.Random) -> list[Any]:
    """A Random's position in its sequence, JSON-ready (``getstate`` as lists)."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list[Any]) -> None:
    """Put ``rng`` where :func:`rng_state` found it, so it continues the sequence."""
    version, internal, gauss = state
    rng.setstate((int(version), tuple(int(n) for n in internal), gauss))


def next_of(counter: itertools.count) -> int:
    """The number ``next(counter)`` would give, without taking it (``count(n)`` is
    what ``repr`` shows of an integer count)."""
    text = repr(counter)
    return int(text[text.index("(") + 1:-1])
