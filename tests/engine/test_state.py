"""The state interface (engine/state.py): every mutable store of the engine is one of
``Engine.state``'s, so a backend that provides those provides all the fake's state."""
from __future__ import annotations

import dataclasses

from mockserver.engine import Engine
from mockserver.engine.jobs import JobSpec
from mockserver.engine.state import State
from mockserver.settings import Settings

# Engine attributes that are not state a restart or a second worker must share:
# settings, the media renderer (files on disk), per-process metrics, and an alias.
NOT_STATE = {"settings", "state", "media", "request_stats", "fault_counts"}


def test_the_engine_keeps_its_state_in_one_place():
    engine = Engine(Settings(seed=1))
    stores = {f.name for f in dataclasses.fields(State)}
    # The engine holds the stores themselves (no indirection per request) ...
    for name in stores:
        assert getattr(engine, name) is getattr(engine.state, name), name
    # ... and nothing mutable besides them.
    assert set(vars(engine)) - stores == NOT_STATE
    assert engine.fault_counts is engine.state.faults.counts


def test_a_job_lives_in_the_state_store():
    engine = Engine(Settings(seed=1))
    job = engine.create_job(JobSpec(kind="text-to-video", job_id="j1", quality="720p", width=1280,
                                    height=720, duration=5, provider="pixverse", api_key="k"))
    assert engine.state.jobs.get("pixverse", "j1", engine.now()) is job
    engine.observe(job)
    assert engine.state.jobs.get("pixverse", "j1", engine.now()).polls == 1
