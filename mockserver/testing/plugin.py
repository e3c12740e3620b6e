"""The pytest plugin (entry point ``pixverse_mock``): the fake as a fixture.

Fixtures:

- ``pixverse_mock``: a :class:`~mockserver.testing.admin.MockAdmin` on a fake running
  in this process (one per test session, on a free loopback port), with state reset
  before each test, a fresh ``api_key`` per test, the faults it added removed and the
  clock's scale and freeze restored after it.  Works in sync and async tests alike (the
  fake serves from its own thread and event loop).
- ``pixverse_mock_session``: the same fake, one handle for the whole session, never
  reset: faster when tests keep to their own API keys.
- ``pixverse_mock_settings``: the ``Settings`` the in-process fake starts with
  (strict contract checks, seed 0, a 1000x clock); override it in a ``conftest.py``
  to change them.

``--pixverse-mock-url URL`` (or ``PIXVERSE_MOCK_URL``) uses a fake that is already
running instead (``pixverse-mock serve``, a container); ``--pixverse-mock-admin-token``
(or ``PIXVERSE_MOCK_ADMIN_TOKEN``) is its admin token, if it has one.  The in-process
fake's token, if its settings set one, is sent without asking.  Tests then share it with
whoever else uses it, so ``pixverse_mock`` does not reset it: use the per-test
``pixverse_mock.api_key`` and the journal mark to keep tests apart.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .admin import MockAdmin

URL_OPTION = "--pixverse-mock-url"
URL_ENV = "PIXVERSE_MOCK_URL"
TOKEN_OPTION = "--pixverse-mock-admin-token"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixverse-mock")
    group.addoption(URL_OPTION, default=None, metavar="URL",
                    help="use the pixverse-mock fake running at URL instead of starting one in-process "
                         f"(also ${URL_ENV})")
    group.addoption(TOKEN_OPTION, default=None, metavar="TOKEN",
                    help="the admin token of the fake at --pixverse-mock-url (also $PIXVERSE_MOCK_ADMIN_TOKEN)")


#: The in-process fake's clock speed unless PIXVERSE_MOCK_TIME_SCALE says otherwise: a
#: 60 s generation takes 60 ms of the test's time.
TEST_TIME_SCALE = 1000.0


@pytest.fixture(scope="session")
def pixverse_mock_settings() -> Any:
    """Settings of the in-process fake; override to change them (e.g. ``time_scale``)."""
    from ..settings import Settings
    from .contracts import contracts_dir

    fast: dict[str, Any] = {} if "PIXVERSE_MOCK_TIME_SCALE" in os.environ else {"time_scale": TEST_TIME_SCALE}
    return Settings(host="127.0.0.1", port=0, strict=True, seed=0, contracts_dir=contracts_dir(), **fast)


@pytest.fixture(scope="session")
def _pixverse_mock_server(request: pytest.FixtureRequest,
                          pixverse_mock_settings: Any) -> Iterator[tuple[str, Any, Any]]:
    """(base URL, ThreadedFake or None, admin token or None) of the session's fake."""
    from .admin import MockAdmin

    url = request.config.getoption(URL_OPTION) or os.environ.get(URL_ENV)
    if url:
        token = request.config.getoption(TOKEN_OPTION)
        MockAdmin(url, admin_token=token).health()  # fail early and clearly when nothing listens there
        yield url.rstrip("/"), None, token
        return
    from .server import ThreadedFake

    fake = ThreadedFake(pixverse_mock_settings)
    try:
        yield fake.base_url, fake, fake.settings.admin_token
    finally:
        fake.close()


@pytest.fixture(scope="session")
def pixverse_mock_session(_pixverse_mock_server: tuple[str, Any, Any]) -> "MockAdmin":
    """One handle on the session's fake, never reset between tests."""
    from .admin import MockAdmin

    url, fake, token = _pixverse_mock_server
    return MockAdmin(url, fake=fake, admin_token=token)


@pytest.fixture
def pixverse_mock(_pixverse_mock_server: tuple[str, Any, Any]) -> Iterator["MockAdmin"]:
    """The fake for one test: reset first (in-process), a fresh ``api_key``, journal
    reads from the test's start; its fault rules removed and the clock's scale and
    freeze restored afterwards."""
    from .admin import MockAdmin

    url, fake, token = _pixverse_mock_server
    handle = MockAdmin(url, fake=fake, admin_token=token)
    if fake is not None:
        handle.reset()
    clock = handle.clock()
    handle.mark()
    try:
        yield handle
    finally:
        handle.clear_faults()
        now = handle.clock()
        if now["scale"] != clock["scale"]:
            handle.set_time_scale(clock["scale"])
        if now["frozen"] != clock["frozen"]:
            handle.freeze() if clock["frozen"] else handle.unfreeze()
