"""``--state-file``: the in-memory state written to disk and read back at start.

The file is one JSON object (UTF-8), written atomically (a temporary file in the same
directory, flushed to disk, then renamed over the old one), on shutdown and every
``state_save_interval_s`` wall seconds::

    {"format": "pixverse-mock-state", "version": 1, "saved_at": <unix s>,
     "seed": <settings.seed>,
     "clock":   {"now": <virtual unix s>, "scale": <float>, "frozen": <bool>},
     "rng":     <random.Random.getstate() as lists: [version, [625 ints], gauss]>,
     "jobs":    [{<Job slot>: value, ..., "request": ["b", latin-1 text] | ["j", JSON]}, ...],
     "uploads": [{"id", "provider", "api_key", "kind", "content_type", "width", "height",
                  "duration", "sha256" | null}, ...],      (oldest first)
     "ledger":  {"balances": [[provider, key, credits]], "refunded": [[provider, job id, cost]]},
     "faults":  {"rules": [{"rule", "source", "seen", "fired"}], "directive_budgets": [...],
                 "next_id", "counts": [[provider, kind, n]], "log": [...], "rng": [...]},
     "journal": {"seq", "evicted", "entries": [[fields in Entry order; bodies ["b"|"s", text]]]},
     "webhooks": {"account_defaults", "accounts", "watches", "deliveries", "log", "log_seq",
                  "counts", "lifetime_counts", "faults", "fault_seq", "rng"}}

Upload bytes are not in the file: each is written once, named by its SHA-256, into the
directory ``<state file>.uploads/`` beside it, and read back from there; a save removes
the ones no stored upload names any more, so the directory stays as bounded as the
upload store.
What is not kept: idempotency replays (a trace id repeated across a restart creates a
new job), rate-limit windows, concurrency counts (rebuilt from the jobs), headers kept
for an open dashboard, and metrics.  Virtual time resumes where it stood: the time the
fake was down does not pass for its jobs.

A file that is not JSON, not this format, or of another version raises
:class:`StateFileError` (the command line exits 2 with its message): never a silent
fresh start over a file someone meant to keep.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import orjson

from .jobs import Job, Plan
from .snapshots import rng_state, set_rng_state
from .store import Upload

if TYPE_CHECKING:
    from .core import Engine
    from .webhooks import Channel

FORMAT = "pixverse-mock-state"
VERSION = 1

_JOB_FIELDS = ("id", "provider", "kind", "api_key", "created_at", "queue_s", "run_s", "outcome",
               "width", "height", "duration", "outputs", "test_id", "polls", "forced", "forced_at", "cost")


class StateFileError(Exception):
    """The state file cannot be read back (corrupt, foreign, another version)."""


def blob_dir(path: Path) -> Path:
    """Where the upload bytes of the state file ``path`` live."""
    return path.with_name(path.name + ".uploads")


def _job_record(job: Job) -> dict[str, Any]:
    record = {name: getattr(job, name) for name in _JOB_FIELDS}
    stored = job._request
    if stored is None:
        record["request"] = None
    elif stored.__class__ is bytes:
        record["request"] = ["b", stored.decode("latin-1")]
    else:  # a dict orjson could not write (an int beyond 64 bits): the stdlib can
        record["request"] = ["j", json.dumps(stored)]
    return record


def _job(record: Mapping[str, Any]) -> Job:
    request = record["request"]
    body: dict[str, Any] | bytes | None = None
    if request is not None:
        kind, text = request
        body = text.encode("latin-1") if kind == "b" else json.loads(text)
    return Job(id=record["id"], provider=record["provider"], kind=record["kind"], api_key=record["api_key"],
               created_at=float(record["created_at"]),
               plan=Plan(float(record["queue_s"]), float(record["run_s"]), record["outcome"]),
               width=int(record["width"]), height=int(record["height"]), duration=int(record["duration"]),
               outputs=int(record["outputs"]), request=body, test_id=record["test_id"],
               polls=int(record["polls"]), forced=record["forced"],
               forced_at=None if record["forced_at"] is None else float(record["forced_at"]),
               cost=int(record["cost"]))


def snapshot(engine: Engine, digest: Callable[[Upload], str] | None = None) -> dict[str, Any]:
    """The engine's state as one JSON-ready object.  ``digest(upload)`` names an
    upload's bytes (None: bytes not kept, every ``sha256`` null)."""
    uploads = []
    for upload in reversed(engine.uploads.newest(len(engine.uploads))):
        uploads.append({"id": upload.id, "provider": upload.provider, "api_key": upload.api_key,
                        "kind": upload.kind, "content_type": upload.content_type, "width": upload.width,
                        "height": upload.height, "duration": upload.duration,
                        "sha256": digest(upload) if upload.data and digest is not None else None})
    return {
        "format": FORMAT, "version": VERSION, "saved_at": time.time(), "seed": engine.settings.seed,
        "clock": engine.clock.snapshot(),
        "rng": rng_state(engine.rng),
        "jobs": [_job_record(job) for job in engine.jobs.all()],
        "uploads": uploads,
        "ledger": engine.ledger.snapshot(),
        "faults": engine.faults.snapshot(),
        "journal": engine.journal.snapshot(),
        "webhooks": engine.webhooks.snapshot(),
    }


def restore(engine: Engine, data: Mapping[str, Any], channels: dict[str, Channel],
            blobs: Path | None = None) -> None:
    """Put a snapshot's state into a freshly built ``engine``; ``channels`` are the
    providers' webhook channels by provider name, ``blobs`` the upload bytes'
    directory.  Raises StateFileError for data that does not fit."""
    try:
        engine.clock.restore(data["clock"])
        set_rng_state(engine.rng, data["rng"])
        now = engine.now()
        for record in data["jobs"]:
            job = _job(record)
            engine.jobs.add(job, now)
            engine.concurrency.track(job)
        for u in data["uploads"]:
            payload = b""
            if u["sha256"] is not None:
                if blobs is None:
                    raise StateFileError(f"upload {u['id']}: no directory to read its bytes from")
                try:
                    payload = (blobs / u["sha256"]).read_bytes()
                except OSError as exc:
                    raise StateFileError(f"upload {u['id']}: its bytes are gone from {blobs} ({exc})") from None
            engine.uploads.add(Upload(id=u["id"], provider=u["provider"], api_key=u["api_key"], kind=u["kind"],
                                      content_type=u["content_type"], data=payload, width=int(u["width"]),
                                      height=int(u["height"]), duration=float(u["duration"])))
        engine.ledger.restore(data["ledger"])
        engine.faults.restore(data["faults"])
        engine.journal.restore(data["journal"])
        engine.webhooks.restore(data["webhooks"], channels,
                                lambda provider, job_id: engine.jobs.get(provider, job_id, now))
    except StateFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise StateFileError(f"the state does not fit this version of the fake: {exc!r}") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


class StateFile:
    """One state file and the upload bytes beside it (``<path>.uploads/``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.blobs = blob_dir(self.path)
        # (provider, upload id) -> (the Upload, its SHA-256): each upload hashed once.
        self._digests: dict[tuple[str, str], tuple[Upload, str]] = {}

    def load(self) -> dict[str, Any] | None:
        """See :func:`load`."""
        return load(self.path)

    def restore(self, engine: Engine, data: Mapping[str, Any], channels: dict[str, Channel]) -> None:
        """See :func:`restore`."""
        restore(engine, data, channels, self.blobs)
        for u in data["uploads"]:
            upload = engine.uploads.get(u["provider"], u["id"])
            if upload is not None and u["sha256"] is not None:
                self._digests[(upload.provider, upload.id)] = (upload, u["sha256"])

    def _take(self, engine: Engine) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The snapshot, and the upload bytes it names by digest."""
        known, seen = self._digests, {}

        def digest(upload: Upload) -> str:
            key = (upload.provider, upload.id)
            cached = known.get(key)
            name = cached[1] if cached is not None and cached[0] is upload \
                else hashlib.sha256(upload.data).hexdigest()
            seen[key] = (upload, name)
            return name

        data = snapshot(engine, digest)
        self._digests = seen
        return data, {name: upload.data for upload, name in seen.values()}

    def save(self, engine: Engine) -> None:
        """Write the engine's state atomically (temp file + rename)."""
        write(self.path, *self._take(engine))

    async def save_soon(self, engine: Engine) -> None:
        """:meth:`save` with the state taken now, on the event loop, and the files
        written (and flushed to disk) in a thread, so requests do not wait for the disk."""
        data, payloads = self._take(engine)
        await asyncio.to_thread(write, self.path, data, payloads)


def save(engine: Engine, path: Path) -> None:
    """Write the engine's state to ``path`` atomically (temp file + rename)."""
    StateFile(path).save(engine)


def write(path: Path, data: dict[str, Any], payloads: Mapping[str, bytes]) -> None:
    """Write a :func:`snapshot` to ``path`` atomically, the upload bytes it names
    (``payloads``: digest -> bytes) first, then drop those it no longer names."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blobs = blob_dir(path)
    for name, payload in payloads.items():
        if not (blobs / name).exists():
            blobs.mkdir(exist_ok=True)
            _write_atomically(blobs / name, payload)
    _write_atomically(path, orjson.dumps(data))
    # Only after the file that no longer names them is in place.
    if blobs.is_dir():
        for blob in blobs.iterdir():
            if blob.name not in payloads and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)


def load(path: Path) -> dict[str, Any] | None:
    """The state saved at ``path``; None when there is no such file (a first run).
    Raises StateFileError for a file that is unreadable, not JSON, not a
    pixverse-mock state file, or of another format version."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"state file {path}: cannot read it ({exc.strerror})") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StateFileError(f"state file {path}: not valid JSON ({exc}); move it away to start afresh") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateFileError(f"state file {path}: not a pixverse-mock state file")
    if data.get("version") != VERSION:
        raise StateFileError(f"state file {path}: format version {data.get('version')!r}, "
                             f"this fake reads version {VERSION}")
    return data
