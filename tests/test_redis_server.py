"""The tests' own Redis: a real server on loopback, emptied between tests."""
from __future__ import annotations

import redis


def test_server_is_on_loopback_and_answers(redis_server):
    assert redis_server.url.startswith("redis://127.0.0.1:")
    with redis.Redis.from_url(redis_server.url) as conn:
        assert conn.ping() is True
        assert conn.config_get("save")["save"] == ""


def test_each_test_gets_an_empty_database(redis_url):
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.dbsize() == 0
        conn.set("left-behind", "1")


def test_left_behind_keys_are_gone(redis_url):
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.get("left-behind") is None
