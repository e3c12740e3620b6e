"""PixVerse V5 credits per generation ($1 = 100 credits): the price list PixVerse sets, which
the resellers derive their own prices from (shared by the provider packages, so none imports
another).

From PixVerse's model-pricing page (``model-pricing-796039m0``):
text-to-video, image-to-video, transition, effects (templates), fusion and extend on V5
cost 45 credits for a 5 s clip at 360p or 540p, 60 at 720p and 120 at 1080p; 8 s
costs double; the older models charge the same and double again for
``motion_mode: fast``.  Lip sync is 4 credits per started second of audio or per 15
UTF-8 bytes of TTS text; a sound effect 10 credits per started 5 s; mimic 9 / 10 / 12
credits per second at 360p / 540p / 720p (mimic guide); a mask selection 2 (swap
guide example).

Restyle, swap, modify and multi-transition have no price the fake could find; they
cost the 5 s price of their quality per 5 s of output, rounded up
(:func:`per_second_cost`, inferred; see the contract's ``x-fake-notes``).
"""
from __future__ import annotations

import math

#: Quality -> credits for a 5 s clip in normal motion mode.
CREDITS_5S: dict[str, int] = {"360p": 45, "540p": 45, "720p": 60, "1080p": 120}

#: Mimic credits per second of output by quality (1080p is not offered).
MIMIC_PER_SECOND: dict[str, int] = {"360p": 9, "540p": 10, "720p": 12}

MASK_SELECTION_CREDITS = 2
LIP_SYNC_CREDITS = 4           # per started second of audio, or per TTS_BYTES of text
LIP_SYNC_TTS_BYTES = 15
SOUND_EFFECT_CREDITS = 10      # per started SOUND_EFFECT_SECONDS
SOUND_EFFECT_SECONDS = 5


def video_cost(quality: str, duration: int, motion_mode: str = "normal") -> int:
    """Credits for one video of ``quality`` ("360p".."1080p") and ``duration`` seconds (5 or 8).

    Raises KeyError for an unknown quality (the contract rejects those first).
    """
    cost = CREDITS_5S[quality] * (2 if duration > 5 else 1)
    return cost * 2 if motion_mode == "fast" else cost


def per_second_cost(quality: str, seconds: float) -> int:
    """Credits for ``seconds`` of output at ``quality`` billed pro rata of the 5 s price
    (inferred for operations without a published price)."""
    return math.ceil(CREDITS_5S[quality] * max(seconds, 1) / 5)


def lip_sync_cost(audio_seconds: float | None = None, tts_text: str | None = None) -> int:
    """Credits for a lip sync driven by ``audio_seconds`` of audio, else by ``tts_text``."""
    if audio_seconds is not None:
        return LIP_SYNC_CREDITS * max(1, math.ceil(audio_seconds))
    data = (tts_text or "").encode()
    return LIP_SYNC_CREDITS * max(1, math.ceil(len(data) / LIP_SYNC_TTS_BYTES))


def sound_effect_cost(seconds: float) -> int:
    """Credits for sound on ``seconds`` of video: 5 s -> 10, 8 s -> 20, 10 s -> 20."""
    return SOUND_EFFECT_CREDITS * max(1, math.ceil(seconds / SOUND_EFFECT_SECONDS))


def mimic_cost(quality: str, seconds: float) -> int:
    """Credits for a mimic of ``seconds`` (rounded up) at ``quality`` (360p..720p)."""
    return MIMIC_PER_SECOND[quality] * max(1, math.ceil(seconds))
