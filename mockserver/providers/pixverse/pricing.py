"""PixVerse credits per generation ($1 = 100 credits).

From the pricing page (``model-pricing-796039m0``, pixverse-platform.md section 6):
text-to-video, image-to-video, transition (and effects, extend) on V5 cost 45 credits
for a 5 s clip at 360p or 540p, 60 at 720p and 120 at 1080p; 8 s costs double; the
older models charge the same and double again for ``motion_mode: fast``.
"""
from __future__ import annotations

#: Quality -> credits for a 5 s clip in normal motion mode.
CREDITS_5S: dict[str, int] = {"360p": 45, "540p": 45, "720p": 60, "1080p": 120}


def video_cost(quality: str, duration: int, motion_mode: str = "normal") -> int:
    """Credits for one video of ``quality`` ("360p".."1080p") and ``duration`` seconds (5 or 8).

    Raises KeyError for an unknown quality (the contract rejects those first).
    """
    cost = CREDITS_5S[quality] * (2 if duration > 5 else 1)
    return cost * 2 if motion_mode == "fast" else cost
