"""The request journal: a bounded ring buffer of what provider routes answered.

One ``Entry`` per request a provider route handled (recorded by each provider
endpoint as it answers, and by the catch-all route for paths nothing served).  The
buffer keeps the newest ``max_entries`` (setting ``journal_max_entries``); older ones
are evicted and counted, so a verification can tell "not seen" from "no longer held".
Bodies are kept as short text prefixes, never re-serialised.

No aiohttp here: the journal is engine state, like jobs, and ``Engine.reset`` clears
it (wholly or for one test id).
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from typing import Any, Callable, Iterable, Iterator, NamedTuple
from urllib.parse import unquote

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_BODY_LIMIT = 2048
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Where a task id sits in a JSON body: these keys, at any depth (the answers wrap them
# in envelopes such as data and Resp).
BODY_ID_NAMES = ("task_id", "video_id", "generation_id", "id")
_ID_RE = re.compile(rb'"(?:task_id|video_id|generation_id|id)"\s*:\s*(?:"([^"\\]+)"|(-?[0-9]+))')
# Stored in an entry's task_id slot when the id is in a body: looked up when the entry
# is read, not on every request (a regex search per submit, issue 8).  Not ids: a
# NUL never starts one.
IN_REQUEST_BODY = "\x00request body"
IN_RESPONSE_BODY = "\x00response body"
# Request latency histogram bounds, seconds: from a fast local answer to a client-side
# timeout of a hung request.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def mask_key(key: str | None) -> str | None:
    """An API key as the journal shows it: enough to tell keys apart, not to reuse.

    ``None`` (absent) and ``""`` stay as they are; up to 8 characters keep the first
    two; longer keys keep the first four and the last four.
    """
    if not key:
        return key
    if len(key) <= 8:
        return key[:2] + "***"
    return f"{key[:4]}...{key[-4:]}"


def task_id_in_body(raw: bytes | str | None, pattern: "re.Pattern[bytes] | None" = None) -> str | None:
    """The first task id key's value in a (prefix of a) JSON body, else None (keys:
    ``pattern``'s, by default ``_ID_RE``'s).  A regex, not a parse: bodies are clipped
    prefixes, and a parse would allocate."""
    if not raw or raw.__class__ is str:
        return None
    found = (pattern or _ID_RE).search(raw)  # type: ignore[arg-type]  # the __class__ test above narrows (isinstance costs more here)
    if found is None:
        return None
    return (found.group(1) or found.group(2)).decode("utf-8", "replace")


def _text(body: bytes | str | None, size: int) -> str | None:
    """A stored body prefix as text; ``size`` is the whole body's length in bytes."""
    if body is None or isinstance(body, str):
        return body
    text = body.decode("utf-8", "replace")
    return text if size <= len(body) else f"{text}...[+{size - len(body)} bytes]"


class Entry(NamedTuple):
    """One handled request, as readers see it.

    ``time`` is virtual unix seconds at arrival, ``wall`` real unix seconds;
    ``path`` and ``query`` are the request target as sent (not percent-decoded);
    ``status`` the HTTP status sent (499 when the client went away first, 500 for an
    unhandled error); ``raw_key`` is the API key as sent (answers show it masked; it
    is kept for exact filtering); ``task_id`` the job the request was about, when
    one is known (recorded as ``IN_REQUEST_BODY``/``IN_RESPONSE_BODY`` when it is
    to be read from that body, which readers never see).  ``provider``/``operation``
    are None for a request no provider route matched; ``faults`` the kinds of faults injected into it (empty for none).
    Bodies are kept as byte prefixes (or a description string) plus the full sizes,
    and only decoded when read.

    The journal stores each entry as a plain tuple in this layout (a plain tuple of
    atoms is one the garbage collector stops tracking, so a full journal costs the
    collector nothing) and hands out ``Entry`` views of them.
    """

    seq: int
    time: float
    wall: float
    provider: str | None
    operation: str | None
    method: str
    path: str
    query: str
    status: int
    latency_ms: float
    raw_key: str | None
    test_id: str | None
    task_id: str | None
    request_body: bytes | str | None
    response_body: bytes | None
    faults: tuple[str, ...] = ()
    request_size: int = 0
    response_size: int = 0

    @property
    def request_text(self) -> str | None:
        return _text(self.request_body, self.request_size)

    @property
    def response_text(self) -> str | None:
        return _text(self.response_body, self.response_size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "wall": self.wall,
            "provider": self.provider,
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "api_key": mask_key(self.raw_key),
            "test_id": self.test_id,
            "task_id": self.task_id,
            "request_body": self.request_text,
            "response_body": self.response_text,
            "faults": list(self.faults),
        }


# Positions in the stored tuple, for the matcher.
_I = {name: i for i, name in enumerate(Entry._fields)}
_SEQ, _PROVIDER, _OPERATION, _METHOD, _PATH = _I["seq"], _I["provider"], _I["operation"], _I["method"], _I["path"]
_STATUS, _KEY, _TEST, _TASK, _FAULTS = _I["status"], _I["raw_key"], _I["test_id"], _I["task_id"], _I["faults"]
_REQUEST, _RESPONSE = _I["request_body"], _I["response_body"]


def _stored_bytes(e: tuple) -> int:
    """What an entry's kept bodies cost (a description string counts its length)."""
    request, response = e[_REQUEST], e[_RESPONSE]
    return (0 if request is None else len(request)) + (0 if response is None else len(response))

_BODY_OF: dict[str, tuple[int, "re.Pattern[bytes] | None"]] = {
    IN_REQUEST_BODY: (_I["request_body"], None), IN_RESPONSE_BODY: (_I["response_body"], None)}


def body_marker(response: bool, keys: tuple[str, ...]) -> str:
    """The task-id slot marker for "the id is the first of ``keys`` in the request (or
    response) body", for providers whose ids sit under other keys than the default
    ones.  Made once per operation at start-up; markers are few (one per key set)."""
    base = IN_RESPONSE_BODY if response else IN_REQUEST_BODY
    marker = f"{base}\x00{','.join(keys)}"
    if marker not in _BODY_OF:
        names = "|".join(re.escape(k) for k in keys)
        _BODY_OF[marker] = (_BODY_OF[base][0],
                            re.compile(rb'"(?:' + names.encode() + rb')"\s*:\s*(?:"([^"\\]+)"|(-?[0-9]+))'))
    return marker


def _task_of(e: tuple) -> str | None:
    task = e[_TASK]
    found = _BODY_OF.get(task) if task is not None else None
    if found is None:
        return task
    where, pattern = found
    return task_id_in_body(e[where], pattern)


def _view(e: tuple) -> Entry:
    """A stored tuple as readers see it: the task id looked up if it is in a body."""
    task = _task_of(e)
    return Entry._make(e if task is e[_TASK] else (*e[:_TASK], task, *e[_TASK + 1:]))


# Filters a query or a verification may use, and how each matches an entry.
FILTERS = ("provider", "operation", "method", "path", "status", "test_id", "task_id", "api_key", "fault")


def _status_matcher(spec: Any) -> Callable[[int], bool]:
    """``200`` / ``"200"`` exact, ``"4xx"`` a class; ValueError otherwise."""
    text = str(spec).strip().lower()
    if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        klass = int(text[0])
        return lambda status: status // 100 == klass
    if isinstance(spec, bool):
        raise ValueError("status must be a number like 429 or a class like '4xx'")
    try:
        wanted = int(text)
    except ValueError:
        raise ValueError("status must be a number like 429 or a class like '4xx'") from None
    return lambda status: status == wanted


Stored = tuple  # an entry as the journal keeps it (Entry's layout)


def _decoded(path: str) -> str:
    return unquote(path) if "%" in path else path


def _field_equals(index: int, value: str) -> Callable[[Stored], bool]:
    return lambda e: e[index] == value


def matcher(criteria: dict[str, Any]) -> Callable[[Stored], bool]:
    """A predicate for entries (stored tuples or ``Entry``) matching every given
    criterion (None/absent = any).

    ``path`` matches exactly, or as a prefix when it ends with ``*`` (entries keep the
    path as sent; a percent-encoded one also matches its decoded form); ``method`` is
    case-insensitive; ``api_key`` is the raw key (compared exactly, never shown);
    ``fault`` is an injected fault kind (``error``, ``latency``, ``reset`` ...) or
    ``any`` for a request with any fault.
    Raises ValueError for an unknown criterion or a bad status.
    """
    unknown = set(criteria) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    tests: list[Callable[[Stored], bool]] = []
    given = {k: v for k, v in criteria.items() if v is not None}
    exact = {"provider": _PROVIDER, "operation": _OPERATION, "test_id": _TEST, "api_key": _KEY}
    for name, index in exact.items():
        if name in given:
            value = str(given[name])
            tests.append(_field_equals(index, value))
    if "task_id" in given:
        task_id = str(given["task_id"])
        tests.append(lambda e: _task_of(e) == task_id)
    if "fault" in given:
        kind = str(given["fault"])
        if kind == "any":
            tests.append(lambda e: bool(e[_FAULTS]))
        else:
            tests.append(lambda e: kind in e[_FAULTS])
    if "method" in given:
        method = str(given["method"]).upper()
        tests.append(lambda e: e[_METHOD] == method)
    if "path" in given:
        path = str(given["path"])
        if path.endswith("*"):
            prefix = path[:-1]
            tests.append(lambda e: e[_PATH].startswith(prefix) or _decoded(e[_PATH]).startswith(prefix))
        else:
            tests.append(lambda e: e[_PATH] == path or _decoded(e[_PATH]) == path)
    if "status" in given:
        status_ok = _status_matcher(given["status"])
        tests.append(lambda e: status_ok(e[_STATUS]))
    return lambda e: all(t(e) for t in tests)


# Headers that carry credentials whatever the provider: their values are masked
# when kept.  A provider's own key header is masked because its value is the key.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                            "x-mock-admin-token"})
# Most entries whose headers are kept at once (while a dashboard watches).
HEADERS_KEPT = 1000

Headers = tuple[tuple[str, str], ...]


def readable(text: str) -> str:
    """``text`` (a header value as aiohttp decoded it) with every byte that was not
    UTF-8 replaced by U+FFFD; ASCII (nearly every value) is returned as is."""
    if text.isascii():
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate aiohttp did not make: not a byte at all
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace")


def masked_headers(headers: Any, api_key: str | None) -> Headers:
    """``headers`` (any mapping with ``items()``) as ``(name, value)`` pairs, with
    credentials masked (``mask_key``): every value of ``SECRET_HEADERS`` (an
    ``Authorization`` scheme word stays readable) and the API key wherever it occurs."""
    out = []
    for name, value in headers.items():
        name, value = readable(name), readable(value)
        if name.lower() in SECRET_HEADERS:
            scheme, space, secret = value.partition(" ")
            value = f"{scheme} {mask_key(secret)}" if space and name.lower().endswith("authorization") \
                else mask_key(value) or value
        elif api_key and api_key in value:
            value = value.replace(api_key, mask_key(api_key) or "")
        out.append((name, value))
    return tuple(out)


class Journal:
    """Ring buffer of entries, newest last.

    ``max_entries`` bounds memory (0 turns the journal off: nothing is kept, for
    load runs that want every microsecond); ``body_limit`` bounds each stored body
    (bytes) and ``max_bytes`` all kept bodies together (the oldest entries go first;
    the newest is always kept).  ``evicted`` counts entries pushed out by newer ones
    since the last full clear.  Single-threaded: the event loop is the only writer.

    Headers are not journaled (a copy per request costs CPU the fake's users' load
    tests would pay).  While ``watchers`` is above 0 (a dashboard is open), the
    endpoints hand each entry's request and answer headers to ``keep_headers``,
    which keeps them masked for the newest ``HEADERS_KEPT`` entries.
    """

    watchers = 0

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, body_limit: int = DEFAULT_BODY_LIMIT,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self.body_limit = body_limit
        self.max_bytes = max_bytes
        self._entries: deque[Stored] = deque(maxlen=max_entries)
        self._seq = 0
        self.evicted = 0
        # Bytes of the bodies the entries keep.
        self.bytes = 0
        self._headers: dict[int, tuple[Headers, Headers]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return (_view(e) for e in list(self._entries))

    def record(
        self,
        time: float,
        wall: float,
        provider: str | None,
        operation: str | None,
        method: str,
        path: str,
        query: str,
        status: int,
        latency_ms: float,
        api_key: str | None = None,
        test_id: str | None = None,
        task_id: str | None = None,
        request_body: bytes | str | None = None,
        response_body: bytes | None = None,
        faults: tuple[str, ...] | list[str] = (),
    ) -> int:
        """Append one entry (bodies clipped to ``body_limit``); returns its ``seq``.
        A ``str`` request body is a description kept as is (e.g. of an upload).
        Positional calls are the hot path (every provider request makes one)."""
        self._seq += 1
        if not self.max_entries:
            return self._seq
        limit = self.body_limit
        # ``stored``: what this entry adds to ``bytes`` (its kept bodies), counted as
        # they are clipped.
        request_size = response_size = stored = 0
        if request_body is not None:
            if request_body.__class__ is not str:
                request_size = len(request_body)
                if request_size > limit or request_body.__class__ is not bytes:
                    request_body = bytes(request_body[:limit])  # type: ignore[arg-type]  # the __class__ test above narrows (isinstance costs more here)
            stored = len(request_body)
        if response_body is not None:
            response_size = len(response_body)
            # A copy, also when short: orjson's bytes keep their 4 KiB write buffer.
            response_body = bytes(memoryview(response_body)[:limit])
            stored += len(response_body)
        entries = self._entries
        if len(entries) == self.max_entries:
            self.evicted += 1
            # _stored_bytes, inlined: once the journal is full every request evicts one.
            oldest = entries[0]
            gone, answer = oldest[_REQUEST], oldest[_RESPONSE]
            stored -= (0 if gone is None else len(gone)) + (0 if answer is None else len(answer))
        total = self.bytes = self.bytes + stored
        entries.append((
            self._seq, time, wall, provider, operation, method, path, query, status,
            latency_ms, api_key, test_id, task_id, request_body, response_body,
            faults if faults.__class__ is tuple else tuple(faults), request_size, response_size,
        ))
        if total > self.max_bytes:
            while self.bytes > self.max_bytes and len(entries) > 1:
                self.bytes -= _stored_bytes(entries.popleft())
                self.evicted += 1
        return self._seq

    async def sync(self) -> None:
        """Nothing to do: this journal is the only one (a shared journal, such as
        :class:`~.redis_journal.RedisJournal`, sends and fetches entries here).
        Readers await it before reading."""

    def keep_headers(self, seq: int, api_key: str | None, request_headers: Any,
                     response_headers: Any | None) -> None:
        """Keep entry ``seq``'s request and answer headers, masked (``masked_headers``);
        the oldest kept are dropped past ``HEADERS_KEPT``."""
        if not self.max_entries:
            return
        kept = self._headers
        kept[seq] = (masked_headers(request_headers, api_key),
                     masked_headers(response_headers, api_key) if response_headers is not None else ())
        while len(kept) > HEADERS_KEPT:
            del kept[next(iter(kept))]

    def headers(self, seq: int) -> tuple[Headers, Headers] | None:
        """(request, answer) headers kept for entry ``seq``, or None."""
        return self._headers.get(seq)

    def get(self, seq: int) -> Entry | None:
        """The entry numbered ``seq``, if the buffer still holds it."""
        entries = self._entries
        if not entries or seq < entries[0][_SEQ] or seq > entries[-1][_SEQ]:
            return None
        # Sequence numbers only grow, with gaps where a test id's entries were cleared.
        lo, hi = 0, len(entries) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            found = entries[mid][_SEQ]
            if found == seq:
                return _view(entries[mid])
            lo, hi = (mid + 1, hi) if found < seq else (lo, mid - 1)
        return None

    def newest(self, count: int, criteria: dict[str, Any] | None = None) -> list[Entry]:
        """Up to ``count`` newest entries matching ``criteria``, newest first, without
        reading the rest of the buffer."""
        match = matcher(criteria or {})
        out: list[Entry] = []
        for e in reversed(self._entries):
            if match(e):
                out.append(_view(e))
                if len(out) >= count:
                    break
        return out

    def find(self, criteria: dict[str, Any] | None = None, since: int | None = None) -> list[Entry]:
        """Entries matching ``criteria`` (see ``matcher``), oldest first; ``since``
        keeps only entries with ``seq`` greater than it."""
        match = matcher(criteria or {})
        entries: Iterable[Stored] = self._entries
        if since is not None:
            entries = (e for e in entries if e[_SEQ] > since)
        return [_view(e) for e in entries if match(e)]

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        match = matcher(criteria or {})
        return sum(1 for e in self._entries if match(e))

    def snapshot(self) -> dict[str, Any]:
        """The entries (oldest first, fields in :class:`Entry` order) and the
        sequence, JSON-ready (the state file)."""
        return {"seq": self._seq, "evicted": self.evicted, "entries": [to_row(e) for e in self._entries]}

    def restore(self, data: dict[str, Any]) -> None:
        self.clear()
        self._seq = int(data["seq"])
        for e in data["entries"]:
            stored = from_row(e)
            if self.max_entries:  # a smaller max_entries than the saved run's keeps the newest
                self._entries.append(stored)
        self.bytes = sum(map(_stored_bytes, self._entries))
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            self.bytes -= _stored_bytes(self._entries.popleft())
        self.evicted = int(data["evicted"])

    def clear(self, test_id: str | None = None) -> int:
        """Drop every entry, or only those of one test id; returns how many went."""
        if test_id is None:
            dropped = len(self._entries)
            self._entries.clear()
            self._headers.clear()
            self.evicted = 0
            self.bytes = 0
            return dropped
        kept = [e for e in self._entries if e[_TEST] != test_id]
        dropped = len(self._entries) - len(kept)
        self._entries = deque(kept, maxlen=self.max_entries)
        self.bytes = sum(map(_stored_bytes, kept))
        return dropped


def to_row(e: Stored) -> list[Any]:
    """A stored entry as a JSON-ready list (fields in :class:`Entry` order, bodies
    packed): the state file's and the Redis stream's layout."""
    return [*e[:_REQUEST], _pack(e[_REQUEST]), _pack(e[_RESPONSE]), list(e[_FAULTS]), *e[_FAULTS + 1:]]


def from_row(row: list[Any]) -> Stored:
    """:func:`to_row` undone.  Raises ValueError for a row of the wrong length."""
    stored = (*row[:_REQUEST], _unpack(row[_REQUEST]), _unpack(row[_RESPONSE]), tuple(row[_FAULTS]),
              *row[_FAULTS + 1:])
    if len(stored) != len(Entry._fields):
        raise ValueError("a journal entry has the wrong number of fields")
    return stored


def _pack(value: bytes | str | None) -> list[str] | None:
    """A body for JSON: ``["b", latin-1 text]`` for bytes (exact), ``["s", text]``."""
    if value is None:
        return None
    return ["s", value] if value.__class__ is str else ["b", bytes(value).decode("latin-1")]  # type: ignore[arg-type]


def _unpack(value: list[str] | None) -> bytes | str | None:
    if value is None:
        return None
    kind, text = value
    return text if kind == "s" else text.encode("latin-1")


class RequestStats:
    """Lifetime request counts and a latency histogram per (provider, operation):
    what ``/__admin/metrics`` exports, formatted only when scraped.  Never cleared by
    a reset (Prometheus expects counters to only grow).

    A provider endpoint takes its operation's ``series`` once, at start-up, and
    updates it in place per request (a dict update and a bisect); ``observe`` is the
    same for everyone else.
    """

    def __init__(self) -> None:
        # (provider, operation) -> ({status: requests}, [count per LATENCY_BUCKETS bound,
        # count above the last, sum of seconds])
        self._series: dict[tuple[str, str], tuple[dict[int, int], list[float]]] = {}

    def series(self, provider: str | None, operation: str | None) -> tuple[dict[int, int], list[float]]:
        """The live counters of one (provider, operation); None/None is a path no
        provider serves (exported as ``none``/``unmatched``)."""
        key = (provider or "none", operation or "unmatched")
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = ({}, [0.0] * (len(LATENCY_BUCKETS) + 2))
        return found

    def observe(self, provider: str | None, operation: str | None, status: int, seconds: float) -> None:
        """One answered request, ``seconds`` its wall latency."""
        counts, latency = self.series(provider, operation)
        counts[status] = counts.get(status, 0) + 1
        latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[-1] += seconds

    @property
    def requests(self) -> dict[tuple[str, str, int], int]:
        """{(provider, operation, status): requests} for every status seen."""
        return {(*key, status): n for key, (counts, _) in self._series.items() for status, n in counts.items()}

    @property
    def latency(self) -> dict[tuple[str, str], list[float]]:
        """{(provider, operation): histogram slots} for operations with requests."""
        return {key: slots for key, (counts, slots) in self._series.items() if counts}

    def snapshot(self) -> list[list[Any]]:
        """The counters as JSON: ``[[provider, operation, {status: n}, slots], ...]``
        (what another worker adds into its scrape; ``merge``)."""
        return [[p, o, {str(k): v for k, v in counts.items()}, slots]
                for (p, o), (counts, slots) in self._series.items() if counts]

    @classmethod
    def merged(cls, snapshots: Iterable[list[list[Any]]]) -> "RequestStats":
        """One RequestStats holding the sum of ``snapshots`` (several workers' counts)."""
        total = cls()
        for snapshot in snapshots:
            for provider, operation, counts, slots in snapshot:
                mine, histogram = total.series(provider, operation)
                for status, n in counts.items():
                    mine[int(status)] = mine.get(int(status), 0) + n
                for i, value in enumerate(slots[:len(histogram)]):
                    histogram[i] += value
        return total
