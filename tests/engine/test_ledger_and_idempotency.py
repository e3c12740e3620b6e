"""Unit tests of the credit ledger and the idempotency store (engine, no HTTP)."""
from __future__ import annotations

import asyncio

import pytest

from mockserver.engine.idempotency import IdempotencyStore
from mockserver.engine.ledger import Ledger


def test_a_new_key_starts_with_its_providers_balance():
    ledger = Ledger(lambda provider: {"aimlapi": 1000}.get(provider, 10))
    assert ledger.balance("aimlapi", "k") == 1000
    assert ledger.balance("freepik", "k") == 10
    assert ledger.debit("freepik", "k", 4) == 6
    assert ledger.balance("freepik", "k") == 6
    assert ledger.balance("freepik", "other") == 10  # keys are apart
    assert ledger.balance("aimlapi", "k") == 1000    # and providers


def test_try_debit_takes_all_or_nothing():
    ledger = Ledger(5)
    assert ledger.try_debit("pixverse", "k", 5) is True
    assert ledger.balance("pixverse", "k") == 0
    assert ledger.try_debit("pixverse", "k", 1) is False
    assert ledger.balance("pixverse", "k") == 0
    assert ledger.try_debit("pixverse", "k", 0) is True  # a free operation always passes


def test_settle_refunds_a_refunded_outcome_once_per_job():
    ledger = Ledger(100, refunds={"pixverse": ["moderated"]})
    ledger.debit("pixverse", "k", 30)
    assert ledger.settle("pixverse", "job-1", "k", 30, "failed") == 0
    assert ledger.settle("pixverse", "job-1", "k", 30, "moderated") == 30
    assert ledger.settle("pixverse", "job-1", "k", 30, "moderated") == 0  # a second poll
    assert ledger.balance("pixverse", "k") == 100
    assert ledger.was_refunded("pixverse", "job-1")
    # A provider without refunds keeps the cost.
    ledger.debit("freepik", "k", 30)
    assert ledger.settle("freepik", "job-2", "k", 30, "moderated") == 0
    assert ledger.balance("freepik", "k") == 70


def test_clear_restores_starting_balances():
    ledger = Ledger(100, refunds={"pixverse": ["moderated"]})
    ledger.debit("pixverse", "k", 30)
    ledger.settle("pixverse", "j", "k", 30, "moderated")
    ledger.clear()
    assert ledger.balance("pixverse", "k") == 100
    assert not ledger.was_refunded("pixverse", "j")


async def test_a_repeat_gets_the_first_answer_without_running_again():
    store: IdempotencyStore[dict] = IdempotencyStore()
    runs = []

    async def make():
        runs.append(1)
        return {"video_id": len(runs)}

    first = await store.once("trace-1", make)
    again = await store.once("trace-1", make)
    assert first == again == {"video_id": 1} and len(runs) == 1
    assert await store.once("trace-2", make) == {"video_id": 2}


async def test_concurrent_repeats_wait_for_the_first_instead_of_running_twice():
    store: IdempotencyStore[str] = IdempotencyStore()
    release = asyncio.Event()
    runs = []

    async def make():
        runs.append(1)
        await release.wait()
        return "answer"

    waiting = [asyncio.create_task(store.once("k", make)) for _ in range(5)]
    await asyncio.sleep(0)  # let every task reach the store
    release.set()
    assert await asyncio.gather(*waiting) == ["answer"] * 5
    assert len(runs) == 1


async def test_a_first_attempt_that_raises_leaves_nothing_behind():
    store: IdempotencyStore[str] = IdempotencyStore()

    async def broken():
        raise RuntimeError("upstream failed")

    async def works():
        return "ok"

    with pytest.raises(RuntimeError):
        await store.once("k", broken)
    assert len(store) == 0
    assert await store.once("k", works) == "ok"


async def test_an_unreusable_answer_is_made_again():
    store: IdempotencyStore[dict] = IdempotencyStore()
    answers = iter([{"ErrCode": 500}, {"ErrCode": 0}])

    async def make():
        return next(answers)

    async def ok(reply):
        return reply["ErrCode"] == 0

    assert await store.once("k", make, ok) == {"ErrCode": 500}
    assert await store.once("k", make, ok) == {"ErrCode": 0}
    assert await store.once("k", make, ok) == {"ErrCode": 0}  # now remembered


async def test_the_store_is_bounded_oldest_first():
    store: IdempotencyStore[int] = IdempotencyStore(max_entries=3)
    for n in range(5):
        async def make(n=n):
            return n
        await store.once(n, make)
    assert len(store) == 3

    async def fresh():
        return 99
    assert await store.once(0, fresh) == 99  # the oldest was forgotten
    assert await store.once(4, fresh) == 4   # the newest is still remembered
