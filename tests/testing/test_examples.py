"""The reference clients of examples/ pass the conformance harness; the naive ones fail
it, each on the property its bug breaks, with the schedule shrunk to the fault that
shows it."""
from __future__ import annotations

import importlib

import pytest

from mockserver.testing import check_client
from mockserver.testing.contracts import contracts_dir
from mockserver.testing.harness import DuplicateJobs, RetryAfterIgnored, TooManyPolls, UnexpectedResult
from support import MEDIA_CACHE

PROVIDERS = ["freepik", "pixwith", "aimlapi", "pixverse"]


@pytest.fixture(scope="session")
def pixverse_mock_settings():
    from mockserver.settings import Settings

    return Settings(port=0, strict=True, seed=0, media_cache_dir=MEDIA_CACHE, contracts_dir=contracts_dir())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_reference_client_passes(provider, pixverse_mock):
    client = importlib.import_module(f"examples.{provider}_client")
    report = check_client(client.generate, provider, errors=client.ERRORS, fake=pixverse_mock,
                          seed=7, max_examples=15)
    assert report.runs >= 15
    assert report.results["url"] >= 1 and report.results["failed"] + report.results["moderated"] >= 1


NAIVE = {
    # provider: (what breaks, how the message says it, fault kinds to search)
    "freepik": (UnexpectedResult, "the client raised ClientResponseError", None),
    "aimlapi": (RetryAfterIgnored, "after a 429 with Retry-After: 2 the client sent its next request", None),
    "pixwith": (TooManyPolls, "one read per 5 s allows", None),
    "pixverse": (DuplicateJobs, "the client created 2 jobs for one call", ("timeout",)),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_naive_client_is_rejected(provider, pixverse_mock):
    naive = importlib.import_module(f"examples.naive_{provider}")
    errors = importlib.import_module(f"examples.{provider}_client").ERRORS
    broken, words, kinds = NAIVE[provider]
    extra = {"faults": kinds} if kinds else {}
    with pytest.raises(broken) as failed:
        check_client(naive.generate, provider, errors=errors, fake=pixverse_mock, seed=7, max_examples=15, **extra)
    message = str(failed.value)
    assert words in message, message
    # the schedule is shrunk: at most one fault is left, and the journal is shown
    assert message.count("\n  fault: ") <= 1, message
    assert "what the client sent" in message and " -> " in message
