"""What the simulated clients send, and how long they wait between reads.

No locust import here: request bodies, poll intervals and the clock mapping are plain
functions (unit-tested in ``tests/test_loadtests.py``); ``locustfile.py`` drives them.

provider    interval      source
==========  ============  ==================================================================
pixverse    3-5 s         PixVerse's "PixVerse API LLM.txt" page: "poll every 3-5 s"
aimlapi     10-15 s       AI/ML API doc examples poll every 10-15 s, give up after 600-1000 s
pixwith     5-10 s        pixwith: wait ``estimated_time`` first, then every 5-10 s
freepik     3-5 s         not documented (Freepik points to ``webhook_url``); third-party
                          clients poll every 2-5 s, so 3-5 s like PixVerse (our pick)
==========  ============  ==================================================================
=======
Poll intervals are the providers' own guidance, in *provider* seconds, read from each
provider's ``ProviderSpec.poll_interval`` (with the document it comes from: the
harness holds clients to the same value); the clients divide them by the fake's time
scale (``GET /__admin/clock`` -> ``scale``), so a client polls a fake running 50x
faster 50x as often, exactly as it would poll the real provider relative to its job
times.

Parameters follow a plausible production mix (most jobs 720p and 5 s, some 1080p,
portrait for social formats) and never combine what the providers reject (1080p
with 8 s).  Prompts are composed with faker, 6 to ~120 words, a few long ones.
"""
from __future__ import annotations

import os
import random
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from mockserver.providers import specs

# Provider seconds between two status reads (low, high), per registered provider.
POLL_INTERVALS: dict[str, tuple[float, float]] = {
    s.name: (s.poll_interval.low_s, s.poll_interval.high_s) for s in specs()}
# Provider seconds a client waits for a job before giving up (AI/ML API's examples: 600-1000).
GIVE_UP_S = 600.0

# Provider seconds the slowest planned job of the mix takes to finish (queue 8 s plus
# 1080p or 8 s at 720p with +20 % jitter) plus one poll interval: the default
# end-to-end p95 threshold allows 1.5x that, scaled, plus a second of slack.
SLOWEST_JOB_S = 140.0
E2E_MARGIN = 1.5


def default_e2e_p95_s(scale: float) -> float:
    """Wall seconds: the end-to-end p95 a healthy run stays under at time scale ``scale``."""
    return SLOWEST_JOB_S * E2E_MARGIN / scale + 1.0


def poll_interval(provider: str, scale: float, rng: random.Random) -> float:
    """Wall seconds until the next status read."""
    low, high = POLL_INTERVALS[provider]
    return rng.uniform(low, high) / scale


@dataclass(slots=True)
class Clock:
    """The fake's clock as seen from the client: ``virtual = anchor_v + (wall - anchor_wall) * scale``.

    ``scale`` is virtual seconds per wall second (1.0 against a real provider).
    ``anchor_*`` are None when the admin API was not reachable (no plan-based lag).
    """

    scale: float = 1.0
    anchor_v: float | None = None
    anchor_wall: float | None = None
    frozen: bool = False
    source: str = "assumed (no admin API)"

    def wall_at(self, virtual: float) -> float | None:
        """Wall unix seconds at which the fake's clock reads ``virtual`` (None: unknown)."""
        if self.anchor_v is None or self.anchor_wall is None or self.frozen:
            return None
        return self.anchor_wall + (virtual - self.anchor_v) / self.scale

    @classmethod
    def from_admin(cls, answer: dict[str, Any], wall_sent: float, wall_received: float) -> "Clock":
        """From ``GET /__admin/clock`` (``{now, scale, frozen}``), read between the two wall times."""
        return cls(scale=float(answer["scale"]), anchor_v=float(answer["now"]),
                   anchor_wall=(wall_sent + wall_received) / 2, frozen=bool(answer.get("frozen")),
                   source="GET /__admin/clock")


# --- request bodies ---------------------------------------------------------------------

_CAMERA = ("Cinematic shot of", "Close-up of", "Slow-motion drone shot over", "Handheld footage of",
           "Wide establishing shot of", "Macro shot of", "Tracking shot following", "Time-lapse of")
_LIGHT = ("golden hour light", "neon reflections", "soft morning fog", "dramatic backlight",
          "overcast daylight", "candlelight", "moonlight", "studio lighting")
_LOOK = ("35mm film grain", "shallow depth of field", "ultra detailed", "vibrant colors",
         "muted pastel palette", "high contrast", "anamorphic lens flare", "4k, photorealistic")
_NEGATIVE = ("blurry, low quality", "watermark, text, logo", "distorted faces, extra limbs",
             "oversaturated, noisy", "")
_SUBJECTS = ("fox", "robot", "sailboat", "vintage car", "hummingbird", "dancer", "astronaut", "lighthouse")
STYLES = ("anime", "3d_animation", "clay", "comic", "cyberpunk")
FREEPIK_ASPECTS = {"16:9": "widescreen_16_9", "4:3": "classic_4_3", "1:1": "square_1_1",
                   "3:4": "traditional_3_4", "9:16": "social_story_9_16"}


@dataclass
class Draw:
    """Seeded draws of prompts and parameters for one simulated client."""

    seed: int | None = None
    rng: random.Random = field(init=False)
    fake: Faker = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.fake = Faker()
        self.fake.seed_instance(self.rng.getrandbits(32))

    # primitives ----------------------------------------------------------------------
    def weighted(self, table: dict[Any, float]) -> Any:
        return self.rng.choices(list(table), weights=list(table.values()))[0]

    def prompt(self) -> str:
        f, r = self.fake, self.rng
        subject = r.choice((
            lambda: f"a {f.color_name().lower()} {r.choice(_SUBJECTS)}",
            lambda: f"{f.first_name()}, a {f.job().lower()},",
            lambda: f"the streets of {f.city()}",
            lambda: f"a {r.choice(('tiny', 'giant', 'glowing', 'ancient', 'futuristic'))} {f.word()}",
        ))()
        action = r.choice(("walking through", "flying above", "dancing in", "racing across", "floating over",
                           "emerging from", "turning towards the camera in"))
        place = r.choice((f"{f.city()} at night", f"a {f.color_name().lower()} desert", "a rain-soaked alley",
                          "a snowy forest", f"the coast of {f.country()}", "a crowded market", "outer space"))
        text = f"{r.choice(_CAMERA)} {subject} {action} {place}, {r.choice(_LIGHT)}, {r.choice(_LOOK)}"
        if r.random() < 0.25:  # some users paste long, detailed prompts
            text += ". " + f.paragraph(nb_sentences=r.randint(2, 6))
        return text[:2000]

    def image_url(self) -> str:
        host, name = self.fake.domain_name(), self.fake.uuid4()
        return f"https://{host}/uploads/{name}.{self.rng.choice(('jpg', 'png', 'webp'))}"

    def resolution(self) -> str:
        return self.weighted({"360p": 0.10, "540p": 0.25, "720p": 0.50, "1080p": 0.15})

    def duration(self, resolution: str) -> int:
        # Every provider rejects 1080p with 8 s.
        return 5 if resolution == "1080p" or self.rng.random() < 0.75 else 8

    def aspect(self) -> str:
        return self.weighted({"16:9": 0.50, "9:16": 0.30, "1:1": 0.15, "4:3": 0.03, "3:4": 0.02})

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def api_key(self, provider: str) -> str:
        return f"load-{provider}-{self.fake.uuid4()}"

    def trace_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # per provider: (kind, path, body) ------------------------------------------------------
    def freepik(self, webhook_url: str | None = None) -> tuple[str, str, dict[str, Any]]:
        kind = self.weighted({"i2v": 0.6, "t2v": 0.3, "transition": 0.1})
        res = self.resolution()
        body: dict[str, Any] = {"prompt": self.prompt(), "resolution": res, "duration": self.duration(res)}
        if kind == "i2v":
            path = "/v1/ai/image-to-video/pixverse-v5"
            body["image_url"] = self.image_url()
        elif kind == "t2v":
            path = "/v1/ai/text-to-video/pixverse-v5"
            body["aspect_ratio"] = FREEPIK_ASPECTS[self.aspect()]
        else:
            path = "/v1/ai/image-to-video/pixverse-v5-transition"
            body["first_image_url"], body["last_image_url"] = self.image_url(), self.image_url()
        if kind != "transition" and self.maybe(0.2):
            body["style"] = self.rng.choice(STYLES)
        if self.maybe(0.4):
            body["negative_prompt"] = self.rng.choice(_NEGATIVE)
        if self.maybe(0.3):
            body["seed"] = self.rng.randint(0, 2**31 - 1)
        if webhook_url:
            body["webhook_url"] = webhook_url
        return kind, path, body

    def aimlapi(self) -> tuple[str, str, dict[str, Any]]:
        kind = self.weighted({"i2v": 0.5, "t2v": 0.4, "transition": 0.1})
        res = self.resolution()
        model = {"i2v": "pixverse/v5/image-to-video", "t2v": "pixverse/v5/text-to-video",
                 "transition": "pixverse/v5/transition"}[kind]
        body: dict[str, Any] = {"model": model, "prompt": self.prompt(), "resolution": res,
                                "duration": self.duration(res)}
        if kind in ("i2v", "transition"):
            body["image_url"] = self.image_url()
        if kind == "transition":
            body["tail_image_url"] = self.image_url()
        if kind == "t2v":
            body["aspect_ratio"] = self.aspect()
        if self.maybe(0.3):
            body["negative_prompt"] = self.rng.choice(_NEGATIVE)
        if self.maybe(0.2):
            body["seed"] = self.rng.randint(0, 2**31 - 1)
        # Half the clients use the legacy path the older SDKs call.
        path = "/v2/video/generations" if self.maybe(0.5) else "/v2/generate/video/pixverse/generation"
        return kind, path, body

    def pixwith(self) -> tuple[str, str, dict[str, Any]]:
        kind = self.weighted({"t2v": 0.6, "i2v": 0.4})
        res = self.resolution()
        body: dict[str, Any] = {
            "prompt": self.prompt(), "model_id": "2-27",
            "options": {"prompt_optimization": self.maybe(0.7),
                        "num_outputs": self.weighted({1: 0.8, 2: 0.15, 4: 0.05}),
                        "resolution": res, "aspect_ratio": self.aspect(), "duration": self.duration(res)},
        }
        if kind == "i2v":
            body["image_urls"] = [self.image_url()]
        return kind, "/api/task/create", body

    def pixverse(self, img_id: int | None = None) -> tuple[str, str, dict[str, Any]]:
        """Text-to-video, or image-to-video of an uploaded image (``img_id``)."""
        quality = self.resolution()
        body: dict[str, Any] = {"prompt": self.prompt(), "model": "v5", "quality": quality,
                                "duration": self.duration(quality)}
        if self.maybe(0.3):
            body["negative_prompt"] = self.rng.choice(_NEGATIVE)
        if self.maybe(0.2):
            body["style"] = self.rng.choice(STYLES)
        if self.maybe(0.5):
            body["seed"] = self.rng.randint(0, 2**31 - 1)
        if img_id is None:
            body["aspect_ratio"] = self.aspect()
            return "t2v", "/openapi/v2/video/text/generate", body
        body["img_id"] = img_id
        return "i2v", "/openapi/v2/video/img/generate", body


# --- any registered provider, from its spec and contract ---------------------------------

TERMINAL_OUTCOMES = ("succeeded", "failed", "moderated")


@dataclass
class ContractScenario:
    """Whole jobs against a provider known only by its ``ProviderSpec`` and contract
    (a reseller added to the registry, no hand-written client): submit the documented
    request example of a submit operation (prompt drawn), read the job through a poll
    operation, and tell the outcome from the first ``status_key`` in the answer, read
    through the spec's status map.  The four built-in providers have richer mixes
    (``Draw.freepik`` ...); this is what any other provider gets for free."""

    provider: str
    submit_op: str = field(init=False)
    poll_op: str = field(init=False)

    def __post_init__(self) -> None:
        from mockserver.testing.contracts import contract, poll_operations, provider_spec, submit_operations

        self.spec = provider_spec(self.provider)
        self.contract = contract(self.provider)
        if self.spec.example_submit is not None:
            self.submit_op, example = self.spec.example_submit
        else:
            submits = [op for op in sorted(submit_operations(self.provider))
                       if _request_example(self.contract.operation(op))]
            if not submits:
                raise ValueError(f"{self.provider}: no example_submit and no submit operation documents "
                                 "a request example")
            self.submit_op, example = submits[0], _request_example(self.contract.operation(submits[0]))
        self.example: dict[str, Any] = dict(example or {})
        # The status read that belongs to the submit: the poll operation whose path
        # shares the longest prefix with the submit's.
        submit_path = self.contract.operation(self.submit_op).path
        self.poll_op = max(sorted(poll_operations(self.provider)),
                           key=lambda op: len(os.path.commonprefix([submit_path, self.contract.operation(op).path])))
        # Provider status -> neutral outcome, terminal states only (several states may
        # share a spelling, e.g. failed and moderated: the first wins).
        self.outcomes: dict[Any, str] = {}
        for state in TERMINAL_OUTCOMES:
            self.outcomes.setdefault(self.spec.status_map[state], state)

    def headers(self, api_key: str, operation_id: str) -> dict[str, str]:
        """The auth header and the operation's required headers (a required UUID header,
        such as PixVerse's Ai-trace-id, gets a new one each time)."""
        from mockserver.testing.contracts import auth_headers

        headers = auth_headers(self.provider, api_key)
        for param in self.contract.operation(operation_id).params:
            if param.location == "header" and param.required and param.schema.get("format") == "uuid":
                headers[param.name] = str(uuid.uuid4())
        return headers

    def submit(self, draw: Draw) -> tuple[str, str, dict[str, Any]]:
        """(method, path, JSON body) of one submit."""
        op = self.contract.operation(self.submit_op)
        body = dict(self.example)
        if "prompt" in body:
            body["prompt"] = draw.prompt()
        return op.method, op.path, body

    def task_id(self, answer: Any) -> str | None:
        """The new job's id in a submit answer: the first of the spec's task-id keys."""
        found = _find_key(answer, self.spec.task_id_keys)
        return None if found is None else str(found)

    def read(self, task_id: str) -> tuple[str, str, dict[str, Any] | None]:
        """(method, path with query, JSON body or None) of one status read."""
        op = self.contract.operation(self.poll_op)
        path, query, body = op.path, [], None
        for param in op.params:
            if param.name.replace("-", "_") in self.spec.task_id_keys or param.name in self.spec.task_id_keys:
                if param.location == "path":
                    path = path.replace("{" + param.name + "}", urllib.parse.quote(task_id, safe=""))
                elif param.location == "query":
                    query.append(f"{param.name}={urllib.parse.quote(task_id, safe='')}")
        if op.body_schema is not None:
            props = (op.body_schema.get("properties") or {})
            key = next((k for k in self.spec.task_id_keys if k in props), self.spec.task_id_keys[0])
            body = {key: task_id}
        return op.method, path + ("?" + "&".join(query) if query else ""), body

    def outcome(self, answer: Any) -> tuple[str | None, list[str]]:
        """(neutral outcome or None while running, result URLs) of a status read."""
        status = _find_key(answer, (self.spec.status_key,))
        outcome = self.outcomes.get(status)
        urls = [u for u in _strings(answer) if "/__files/videos" in u] if outcome == "succeeded" else []
        return outcome, urls


def _request_example(op: Any) -> dict[str, Any] | None:
    media = ((op.raw.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
    if isinstance(media.get("example"), dict):
        return media["example"]
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and isinstance(example.get("value"), dict):
            return example["value"]
    return None


def _find_key(value: Any, keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` found in ``value``, breadth first."""
    level = [value]
    while level:
        for item in level:
            if isinstance(item, dict):
                for key in keys:
                    if key in item and not isinstance(item[key], (dict, list)):
                        return item[key]
        level = [v for item in level for v in (item.values() if isinstance(item, dict) else
                                                item if isinstance(item, list) else ())]
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
