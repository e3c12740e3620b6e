"""Injected faults in PixVerse's words: every error is HTTP 200 with an ErrCode.

PixVerse documents only HTTP 200 (business errors as a non-zero ``ErrCode``, ``Resp``
null), so an injected HTTP status maps to the nearest documented ErrCode, a rule's
``errcode`` is sent as is, and moderation at submit is 500054 (image inputs) or
500063 (a text prompt or a video input), with no job created and nothing charged.
The adapter's ``fault_reply`` and ``fault_supported`` hooks call these functions.
"""
from __future__ import annotations

from ...contract import Operation
from ...engine.faults import InjectedError
from ..base import Reply
from .errors import FALLBACK_MESSAGES, STATUS_ERRCODES, ErrCode, envelope
from .generation import GENERATORS
from .settings import PixverseSettings

#: Operations that submit a job (outcome and moderation faults apply there): every
#: generate endpoint and the image template.
SUBMIT_OPERATIONS = frozenset(GENERATORS) | {"image_template_generate"}

#: Moderation at submit: image inputs fail moderation (500054); a text prompt or a video
#: input fails pre-moderation (500063, "input video/image/text").
IMAGE_OPERATIONS = frozenset({"image_to_video", "transition_video", "fusion_video",
                              "multi_transition_video", "image_template_generate"})
#: Uploads PixVerse reviews: moderation there is the upload reference's HTTP 500 body
#: with err_code 500052 (``PixverseAdapter.moderated_operations``).
REVIEWED_UPLOADS = frozenset({"upload_image"})


def errcode_for(settings: PixverseSettings, messages: dict[int, str], op: Operation,
                fault: InjectedError) -> tuple[int, str]:
    """The (ErrCode, ErrMsg) PixVerse sends for ``fault`` on ``op``."""
    if fault.moderation:
        code = int(ErrCode.IMAGE_MODERATED if op.operation_id in IMAGE_OPERATIONS else ErrCode.PRE_MODERATION)
    elif fault.errcode is not None:
        code = fault.errcode
    elif fault.status == 401:
        return settings.auth_err_code, fault.message or settings.auth_err_msg
    elif fault.status is not None:
        code = int(STATUS_ERRCODES[fault.status])
    else:
        raise ValueError("an injected error needs a status, an errcode or moderation")
    message = fault.message or messages.get(code) or FALLBACK_MESSAGES.get(code) or f"ErrCode {code}"
    return code, message


def fault_reply(settings: PixverseSettings, messages: dict[int, str], op: Operation,
                fault: InjectedError) -> Reply:
    """``ProviderAdapter.fault_reply`` for PixVerse: HTTP 200, ``{ErrCode, ErrMsg, Resp: null}``;
    on the image upload, moderation (or ErrCode 500052) is the upload reference's HTTP 500
    ``{"err_code": 500052, "err_msg": str, "resp": ""}``."""
    review = ErrCode.IMAGE_REVIEW_FAILED
    if op.operation_id in REVIEWED_UPLOADS and (fault.moderation or fault.errcode == review):
        return Reply({"err_code": int(review), "err_msg": fault.message or messages.get(review, ""),
                      "resp": ""}, 500)
    code, message = errcode_for(settings, messages, op, fault)
    return Reply(envelope(code, message))


def fault_supported(fault: InjectedError) -> bool:
    """Every injected error has a PixVerse answer on every operation."""
    return fault.errcode is not None or fault.status is not None or fault.moderation
