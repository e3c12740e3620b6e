"""The request journal on its own (engine/journal.py) and its task-id finder."""
from __future__ import annotations

import pytest

from mockserver.engine.journal import Journal, mask_key, matcher, task_id_in_body


def record(journal: Journal, **fields):
    base = dict(time=100.0, wall=1.0, provider="pixwith", operation="get_task", method="POST",
                path="/api/task/get", query="", status=200, latency_ms=0.5)
    seq = journal.record(**{**base, **fields})
    return next(e for e in journal if e.seq == seq)


def test_mask_key():
    assert mask_key(None) is None and mask_key("") == ""
    assert mask_key("abc") == "ab***"
    assert mask_key("12345678") == "12***"
    assert mask_key("sk-live-0123456789") == "sk-l...6789"


def test_a_clipped_body_says_what_was_cut():
    assert record(Journal(body_limit=4)).request_text is None
    assert record(Journal(body_limit=4), request_body=b"abcd").request_text == "abcd"
    assert record(Journal(body_limit=4), request_body=b"abcdef").request_text == "abcd...[+2 bytes]"
    # A cut character is replaced, not an error.
    assert record(Journal(body_limit=3), request_body="é".encode() * 3).request_text == "é\ufffd...[+3 bytes]"


def test_ring_buffer_evicts_oldest_and_counts():
    journal = Journal(max_entries=2)
    for i in range(5):
        record(journal, task_id=str(i))
    assert [e.task_id for e in journal] == ["3", "4"]
    assert journal.evicted == 3 and len(journal) == 2
    assert [e.seq for e in journal] == [4, 5]
    journal.clear()
    assert journal.evicted == 0 and len(journal) == 0
    with pytest.raises(ValueError):
        Journal(max_entries=-1)


def test_a_journal_of_size_zero_is_off():
    journal = Journal(max_entries=0)
    journal.record(time=1.0, wall=1.0, provider=None, operation=None, method="GET", path="/", query="", status=404,
                   latency_ms=0.1)
    assert len(journal) == 0 and journal.evicted == 0 and journal.find() == []


def test_bodies_are_clipped_on_record():
    journal = Journal(body_limit=8)
    entry = record(journal, request_body=b'{"task_id": "0123456789"}', response_body=b"short")
    assert entry.request_body == b'{"task_i' and entry.request_size == 25  # stored as bytes
    assert entry.request_text == '{"task_i...[+17 bytes]' and entry.response_text == "short"
    assert entry.to_dict()["request_body"] == entry.request_text
    described = record(journal, request_body="<multipart/form-data, 9 bytes>")
    assert described.request_text == "<multipart/form-data, 9 bytes>" and described.response_text is None


def test_clear_one_test_id_keeps_the_rest_and_the_bound():
    journal = Journal(max_entries=3)
    record(journal, test_id="a")
    record(journal, test_id="b")
    record(journal, test_id="a")
    assert journal.clear("a") == 2
    assert [e.test_id for e in journal] == ["b"]
    for _ in range(3):
        record(journal, test_id="c")
    assert len(journal) == 3 and [e.test_id for e in journal] == ["c", "c", "c"]


def test_matcher():
    journal = Journal()
    e = record(journal, status=429, api_key="raw-key-123456", test_id="t", task_id="42",
               faults=("latency", "error"))
    assert matcher({})(e)
    assert matcher({"status": 429})(e) and matcher({"status": "4xx"})(e) and matcher({"status": "4XX"})(e)
    assert not matcher({"status": "5xx"})(e) and not matcher({"status": "200"})(e)
    assert matcher({"method": "post", "path": "/api/*"})(e) and not matcher({"path": "/api"})(e)
    assert matcher({"api_key": "raw-key-123456"})(e) and not matcher({"api_key": mask_key("raw-key-123456")})(e)
    assert matcher({"task_id": 42, "test_id": "t", "provider": "pixwith", "operation": "get_task"})(e)
    assert matcher({"fault": "error"})(e) and matcher({"fault": "any"})(e) and not matcher({"fault": "reset"})(e)
    assert matcher({"provider": None})(e)  # None means any
    for bad in ({"status": "teapot"}, {"status": True}, {"colour": "red"}):
        with pytest.raises(ValueError):
            matcher(bad)
    assert e.to_dict()["api_key"] == "raw-...3456" and e.to_dict()["faults"] == ["latency", "error"]
    stored = journal._entries[-1]
    assert type(stored) is tuple and matcher({"fault": "error", "status": "4xx"})(stored)


def test_stored_entries_are_not_tracked_by_the_garbage_collector():
    import gc

    journal = Journal()
    record(journal, request_body=b"{}", response_body=b"{}", faults=("error",))
    gc.collect()
    assert not gc.is_tracked(journal._entries[-1])


def test_find_since_and_count():
    journal = Journal()
    for status in (200, 404, 200):
        record(journal, status=status)
    assert [e.seq for e in journal.find({"status": 200})] == [1, 3]
    assert [e.seq for e in journal.find(since=1)] == [2, 3]
    assert journal.count({"status": "4xx"}) == 1


@pytest.mark.parametrize("body, expected", [
    (b'{"data":{"task_id":"abc","status":"CREATED"}}', "abc"),            # Freepik
    (b'{"code":1,"message":"ok","data":{"task_id":"f00d"}}', "f00d"),     # pixwith
    (b'{"task_id":"f00d"}', "f00d"),                                      # pixwith poll body
    (b'{"id":"gen-1","status":"queued"}', "gen-1"),                       # AI/ML API
    (b'{"ErrCode":0,"ErrMsg":"success","Resp":{"video_id":123}}', "123"),  # PixVerse
    (b'{"ErrCode":0,"Resp":{"img_id":7,"img_url":"u"}}', None),           # an upload, not a job
    (b'{"source_video_id": 5, "prompt": "p"}', None),                     # an input, not this job
    (b'{"id": "u:pixverse/v5/text-to-video"}', "u:pixverse/v5/text-to-video"),
    (b'{"message":"Not Found"}', None),
    (b'[1, 2]', None),
    (b'{"task_id": ', None),                                               # malformed (a fault)
    (b'{"id": true}', None),
    (b"", None),
    (None, None),
])
def test_task_id_in_bodies(body, expected):
    assert task_id_in_body(body) == expected
