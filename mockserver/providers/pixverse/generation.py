"""Every PixVerse generate endpoint, one table: operationId -> neutral job kind, the
planner that checks the request's chain and decides the output, and which credit
field the Resp carries.

Each planner validates what the contract cannot (chained ids, sums, mentions), then
returns an :class:`Output`; :meth:`Generation.generate` charges the key and
creates the job the same way for all of them:  validate chain -> cost -> create_job
-> Resp.  Sources per endpoint are in the contract's descriptions; prices in
``pricing``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, NamedTuple

from ...engine import Engine
from ...engine.jobs import Job, JobSpec
from ...engine.limits import CONCURRENCY
from ...engine.media import VIDEO_MAX_DURATION_S, video_dimensions
from ...files import image_url
from ...settings import Settings
from .. import pricing
from ..base import Call, Reply
from . import catalog
from .chain import (
    MASK_NAMES,
    MASKABLE_CODECS,
    Chain,
    Source,
    check_keyframe,
    check_mask,
    check_mask_of_video,
    mask_id,
    nearest_aspect_ratio,
    template,
    whole_seconds,
)
from .errors import ErrCode, PixverseError
from .wire import Wire, switched_on

SEED_MAX = 2_147_483_647

#: Restyle guide: a source of at most 16 s, uploaded as mp4 or mov.
RESTYLE_MAX_SECONDS = 16
RESTYLE_FORMATS = frozenset({"mp4", "mov", ""})  # "": registered by URL, format unknown

# A fusion mention starts with "@" at the start of the prompt or after whitespace
# ("a@b.c" is no mention).
_MENTION = re.compile(r"(?:^|(?<=\s))@")


def unknown_mention(prompt: str, names: list[str]) -> bool:
    """Whether a mention in ``prompt`` names none of ``names``: "@dog," names "dog";
    a name may hold any character, so the text after "@" is matched against each
    name, not cut at punctuation."""
    for match in _MENTION.finditer(prompt):
        rest = prompt[match.end():]
        if not any(rest.startswith(name) for name in names):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Output:
    """What a job will produce and cost: pixels, whole seconds, the quality label
    its generation time is planned by, and credits."""

    width: int
    height: int
    seconds: int
    quality: str
    cost: int


def _extras(body: dict[str, Any], seconds: int) -> int:
    """Credits the generate pages' sound-effect and lip-sync switches add."""
    extra = 0
    if switched_on(body.get("sound_effect_switch")):
        extra += pricing.sound_effect_cost(seconds)
    if switched_on(body.get("lip_sync_switch")) and body.get("lip_sync_tts_content"):
        extra += pricing.lip_sync_cost(tts_text=str(body["lip_sync_tts_content"]))
    return extra


class Planners:
    """One planner per generate endpoint: ``(call) -> Output``.  Each checks what the
    contract cannot (chained ids via ``chain``, sums, mentions) and decides the
    output's shape, length and price."""

    def __init__(self, chain: Chain, default_aspect_ratio: str) -> None:
        self.chain = chain
        self.default_aspect_ratio = default_aspect_ratio

    def like_image(self, quality: str, image: Any) -> tuple[int, int]:
        """Output (width, height) at ``quality`` in the aspect ratio nearest ``image``'s."""
        ratio = nearest_aspect_ratio(image.width, image.height, self.default_aspect_ratio)
        return video_dimensions(quality, ratio)

    def _generate_output(self, body: dict[str, Any], width: int, height: int) -> Output:
        """Output of a text/image/transition/fusion/template job: its own duration,
        priced by the pricing table plus switched-on extras."""
        quality, seconds = body["quality"], int(body["duration"])
        cost = pricing.video_cost(quality, seconds, body.get("motion_mode", "normal"))
        return Output(width, height, seconds, quality, cost + _extras(body, seconds))

    async def plan_text(self, call: Call) -> Output:
        """Text-to-video: shape from ``quality`` and ``aspect_ratio``.  A ``template_id``
        must be an activated video template (500070 / 400017 / 500071); the page's
        example id is the image-to-video page's, so any number of images is fine."""
        body = call.body
        if "template_id" in body:
            template(body["template_id"], catalog.VIDEO, None, body["quality"])
        return self._generate_output(body, *video_dimensions(body["quality"], body["aspect_ratio"]))

    async def plan_image(self, call: Call) -> Output:
        """Image-to-video, or template video with ``template_id``: shaped like the
        (first) image.  400032 an image not of this key; ``img_ids`` without a
        template 400017; template errors as :func:`chain.template`."""
        body = call.body
        ids = [body["img_id"]] if "img_id" in body else list(body["img_ids"])
        images = [await self.chain.own_image(call.api_key, i) for i in ids]
        if "template_id" in body:
            template(body["template_id"], catalog.VIDEO, len(ids), body["quality"])
        return self._generate_output(body, *self.like_image(body["quality"], images[0]))

    async def plan_transition(self, call: Call) -> Output:
        """Transition: shaped like the first frame; 400032 either frame not an image of this key."""
        body = call.body
        first = await self.chain.own_image(call.api_key, body["first_frame_img"])
        await self.chain.own_image(call.api_key, body["last_frame_img"])
        return self._generate_output(body, *self.like_image(body["quality"], first))

    async def plan_extend(self, call: Call) -> Output:
        """Extend: the source's aspect ratio at ``quality``, the source plus
        ``duration`` seconds (capped at 30), priced like text-to-video of ``duration``."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        quality, seconds = body["quality"], int(body["duration"])
        total = min(VIDEO_MAX_DURATION_S, whole_seconds(src.seconds) + seconds)
        cost = pricing.video_cost(quality, seconds, body.get("motion_mode", "normal"))
        return Output(*src.shape(quality, self.default_aspect_ratio), total, quality, cost)

    async def plan_lip_sync(self, call: Call) -> Output:
        """Lip sync: the source's size and length.  Audio from ``audio_media_id``
        (500008 unknown, 400017 not audio) or TTS (400017 unknown speaker); priced by
        the audio's seconds or the text's bytes."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        if "audio_media_id" in body:
            seconds = await self.chain.audio_seconds(call.api_key, body["audio_media_id"]) or whole_seconds(0)
            cost = pricing.lip_sync_cost(audio_seconds=seconds)
        else:
            if not catalog.speaker_exists(body["lip_sync_tts_speaker_id"]):
                raise PixverseError(ErrCode.INVALID_PARAM)
            cost = pricing.lip_sync_cost(tts_text=body["lip_sync_tts_content"])
        return self._keep(src, cost)

    async def plan_sound_effect(self, call: Call) -> Output:
        """Sound effect: the source's size and length, 10 credits per started 5 s."""
        src = await self.chain.source(call.api_key, call.body)
        return self._keep(src, pricing.sound_effect_cost(whole_seconds(src.seconds)))

    async def plan_fusion(self, call: Call) -> Output:
        """Fusion: shape from ``quality`` and ``aspect_ratio``.  Each ``img_id`` an
        image of this key (400032); ``ref_name``s unique and every ``@mention`` in the
        prompt naming one (400017).  Ids are checked first, like every chained rule
        here: rules between fields come after the resources they are about exist."""
        body = call.body
        refs = body["image_references"]
        for ref in refs:
            await self.chain.own_image(call.api_key, ref["img_id"])
        names = [r["ref_name"] for r in refs]
        if len(set(names)) != len(names):
            raise PixverseError(ErrCode.INVALID_PARAM)
        if unknown_mention(body["prompt"], names):
            raise PixverseError(ErrCode.INVALID_PARAM)
        return self._generate_output(body, *video_dimensions(body["quality"], body["aspect_ratio"]))

    async def plan_restyle(self, call: Call) -> Output:
        """Restyle: the source's size and length; the source at most 16 s and, uploaded,
        mp4 or mov (400017); ``restyle_id`` a listed preset (400017)."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        if src.seconds > RESTYLE_MAX_SECONDS or src.format not in RESTYLE_FORMATS:
            raise PixverseError(ErrCode.INVALID_PARAM)
        if "restyle_id" in body and catalog.restyle(int(body["restyle_id"])) is None:
            raise PixverseError(ErrCode.INVALID_PARAM)
        seconds = whole_seconds(src.seconds)
        return self._keep(src, pricing.per_second_cost(src.quality, seconds))

    async def plan_multi_transition(self, call: Call) -> Output:
        """Multi-transition: the segments (every keyframe's duration but the last's,
        each at least 1 s per the contract) total at most 30 s (400017); each
        ``img_id`` an image of this key (400032).  Shaped like the first keyframe, as
        long as the total."""
        body = call.body
        frames = body["multi_transition"]
        images = [await self.chain.own_image(call.api_key, f["img_id"]) for f in frames]
        total = sum(int(f["duration"]) for f in frames[:-1])
        if total > VIDEO_MAX_DURATION_S:
            raise PixverseError(ErrCode.INVALID_PARAM)
        quality = body["quality"]
        return Output(*self.like_image(quality, images[0]), total, quality,
                      pricing.per_second_cost(quality, total))

    async def plan_swap(self, call: Call) -> Output:
        """Swap: ``keyframe_id`` a frame of the source and ``mask_id`` from its mask
        selection at that keyframe (400017); ``img_id`` an image of this key (400032).
        The source's aspect ratio at ``quality`` and its length."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        keyframe = check_keyframe(src, int(body["keyframe_id"]))
        check_mask(call.api_key, src, keyframe, body["mask_id"])
        await self.chain.own_image(call.api_key, body["img_id"])
        return self._reshaped(src, body["quality"])

    async def plan_modify(self, call: Call) -> Output:
        """Modify: each of ``mask_ids`` from a mask selection of the source (400017).
        The source's aspect ratio at ``quality`` and its length."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        for mask in body.get("mask_ids", []):
            check_mask_of_video(call.api_key, src, mask)
        return self._reshaped(src, body["quality"])

    async def plan_mimic(self, call: Call) -> Output:
        """Mimic: the image's aspect ratio at ``quality``, the motion source's length;
        9/10/12 credits per second at 360p/540p/720p."""
        body = call.body
        src = await self.chain.source(call.api_key, body)
        image = await self.chain.own_image(call.api_key, body["img_id"])
        quality, seconds = body["quality"], whole_seconds(src.seconds)
        return Output(*self.like_image(quality, image), seconds, quality,
                      pricing.mimic_cost(quality, seconds))

    def _keep(self, src: Source, cost: int) -> Output:
        return Output(*src.kept_shape(self.default_aspect_ratio), whole_seconds(src.seconds),
                      src.quality, cost)

    def _reshaped(self, src: Source, quality: str) -> Output:
        seconds = whole_seconds(src.seconds)
        return Output(*src.shape(quality, self.default_aspect_ratio), seconds, quality,
                      pricing.per_second_cost(quality, seconds))


class Generator(NamedTuple):
    kind: str                                   # neutral job kind
    plan: Callable[[Planners, Call], Awaitable[Output]]  # a Planners method
    credits: str | None = None  # Resp field reporting the charge, where the docs show one


GENERATORS: dict[str, Generator] = {
    "text_to_video": Generator("text-to-video", Planners.plan_text),
    "image_to_video": Generator("image-to-video", Planners.plan_image),
    "transition_video": Generator("transition", Planners.plan_transition),
    "extend_video": Generator("extend", Planners.plan_extend),
    "lip_sync_video": Generator("lip-sync", Planners.plan_lip_sync),
    "sound_effect_video": Generator("sound-effect", Planners.plan_sound_effect),
    "fusion_video": Generator("fusion", Planners.plan_fusion),
    "restyle_video": Generator("restyle", Planners.plan_restyle, "credits"),
    "multi_transition_video": Generator("multi-transition", Planners.plan_multi_transition, "credits"),
    "swap_video": Generator("swap", Planners.plan_swap, "credits"),
    "modify_video": Generator("modify", Planners.plan_modify),
    "mimic_video": Generator("mimic", Planners.plan_mimic, "credit"),
}


class Generation:
    """The generate handlers: every table endpoint (:meth:`generate`), the mask
    selection and the image template.  ``create_job`` is the adapter's
    (``ProviderAdapter.create_job``); ``follow`` watches a new video for the key's
    account webhook."""

    def __init__(self, engine: Engine, settings: Settings, wire: Wire, planners: Planners,
                 create_job: Callable[[Call, JobSpec], Awaitable[Job]], follow: Callable[[Call, Job, str], None],
                 provider: str) -> None:
        self.engine = engine
        self.settings = settings
        self.planners = planners
        self.chain = planners.chain
        self.create_job = create_job
        self.follow = follow
        self.name = provider
        self.ok = wire.ok

    # the one handler -------------------------------------------------------------------
    async def generate(self, call: Call) -> Reply:
        """Every POST .../generate: Resp ``{"video_id": int}`` plus ``credits`` or
        ``credit`` where the docs show it.  Errors: 400011 a field only the reference page
        requires (``x-reference-required``) with ``pixverse.required_fields: reference``;
        the planner's; then 500090 when the key has fewer credits than the job costs
        (nothing created or charged)."""
        generator = GENERATORS[call.op.operation_id]
        if self.settings.pixverse.required_fields == "reference":
            wanted = (call.op.body_schema or {}).get("x-reference-required", ())
            if any(name not in call.body for name in wanted):
                raise PixverseError(ErrCode.PARAM_EMPTY)
        out = await generator.plan(self.planners, call)
        video_id = await self.submit(call, generator.kind, out)
        resp: dict[str, Any] = {"video_id": video_id}
        if generator.credits:
            resp[generator.credits] = out.cost
        return self.ok(resp)

    async def charge(self, call: Call, cost: int) -> None:
        """Take ``cost`` credits, or 500090 when the key has fewer."""
        if await self.engine.admit(self.name, call.api_key, cost, job=False) is not None:
            raise PixverseError(ErrCode.INSUFFICIENT_BALANCE)

    async def submit(self, call: Call, kind: str, out: Output) -> int:
        """Charge the key and create the job; returns its id.  500044 when the key
        has as many jobs generating as its concurrency cap allows, 500090 when it has
        too few credits: nothing is created or charged then."""
        refusal = await self.engine.admit(self.name, call.api_key, out.cost)
        if refusal is not None:
            raise PixverseError(ErrCode.CONCURRENCY_LIMIT if refusal.kind == CONCURRENCY
                                else ErrCode.INSUFFICIENT_BALANCE)
        request = dict(call.body)
        # The result reports the seed used, so one is fixed now when the client sent none.
        request["seed"] = int(request["seed"]) if "seed" in request else self.engine.new_seed(SEED_MAX)
        job_id = self.engine.new_int_id()
        job = await self.create_job(call, JobSpec(
            kind, str(job_id), quality=out.quality, width=out.width, height=out.height,
            duration=out.seconds, request=request, cost=out.cost))
        if call.op.operation_id in GENERATORS:  # videos; image templates send no webhook
            self.follow(call, job, call.request.headers.get("Ai-trace-id", ""))
        return job_id

    # not jobs of the video table -------------------------------------------------------
    async def mask_selection(self, call: Call) -> Reply:
        """POST /openapi/v2/video/mask/selection -> Resp ``{keyframe_id, keyframe_url,
        credits, mask_info: [{mask_id, mask_name, mask_url}]}`` (synchronous, 2 credits).

        Errors: the source's (see ``Chain.source``); 400017 a keyframe past the
        end, or an uploaded source not in H.264/H.265; 500090 fewer than 2 credits.
        """
        body = call.body
        src = await self.chain.source(call.api_key, body)
        if src.field == "video_media_id" and src.codec and src.codec not in MASKABLE_CODECS:
            raise PixverseError(ErrCode.INVALID_PARAM)
        # Absent or 0 is the page's default keyframe, 1.
        keyframe = check_keyframe(src, int(body.get("keyframe_id") or 1))
        await self.charge(call, pricing.MASK_SELECTION_CREDITS)
        width, height = src.kept_shape(self.settings.default_aspect_ratio)
        stem = f"{src.id}-keyframe-{keyframe}"
        masks = []
        for name in MASK_NAMES:
            mid = mask_id(call.api_key, src, keyframe, name)
            masks.append({"mask_id": mid, "mask_name": name,
                          "mask_url": image_url(call.base_url, width, height, f"{src.id}-mask-{mid}")})
        return self.ok({
            "keyframe_id": keyframe,
            "keyframe_url": image_url(call.base_url, width, height, stem),
            "credits": pricing.MASK_SELECTION_CREDITS,
            "mask_info": masks,
        })

    async def image_template_generate(self, call: Call) -> Reply:
        """POST /openapi/v2/image/template/generate -> Resp ``{"image_id": int}``.

        Errors: template (500070 not activated, 400017 a video template or another
        number of images than its ``effect_type``), 400032 an image not of this key,
        500090.  The PNG is shaped like the first image at 720p.
        """
        body = call.body
        ids = list(body["img_ids"])
        images = [await self.chain.own_image(call.api_key, i) for i in ids]
        found = template(body["template_id"], catalog.IMAGE, len(ids), None)
        width, height = self.planners.like_image("720p", images[0])
        out = Output(width, height, 1, "360p", found.credits)
        return self.ok({"image_id": await self.submit(call, "image-template", out)})
