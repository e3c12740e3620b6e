"""Injected faults in PixVerse's words: every error is HTTP 200 with an ErrCode.

PixVerse documents only HTTP 200 (business errors as a non-zero ``ErrCode``, ``Resp``
null), so an injected HTTP status maps to the nearest documented ErrCode, a rule's
``errcode`` is sent as is, and moderation at submit is 500054 (image inputs) or
500063 (a text prompt or a video input), with no job created and nothing charged.
Wired onto the adapter as methods and a class attribute::

    PixverseAdapter.fault_reply = fault_reply
    PixverseAdapter.fault_supported = fault_supported
    PixverseAdapter.submit_operations = SUBMIT_OPERATIONS
    PixverseAdapter.moderated_operations = REVIEWED_UPLOADS
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ...contract import Operation
from ...engine.faults import InjectedError
from ..base import Reply
from .errors import envelope
from .generation import GENERATORS

#: Operations that submit a job (outcome and moderation faults apply there): every
#: generate endpoint and the image template.
SUBMIT_OPERATIONS = frozenset(GENERATORS) | {"image_template_generate"}

#: Injected HTTP status -> the ErrCode PixVerse answers such a condition with.
STATUS_ERRCODES = {
    400: 400017,  # invalid parameter
    # 401: the configured auth ErrCode (settings.pixverse.auth_err_code)
    403: 500020,  # no permission for this operation
    404: 500008,  # requested data not found
    429: 500044,  # concurrent-generation limit reached (PixVerse has no documented 429)
    500: 500100,  # internal error (third-party code)
    502: 500069,  # system under high load, retry later (third-party code)
    503: 500069,
    504: 500069,
}

#: Moderation at submit: image inputs fail moderation (500054); a text prompt or a video
#: input fails pre-moderation (500063, "input video/image/text").
PRE_MODERATION = 500063
IMAGE_MODERATION = 500054
IMAGE_OPERATIONS = frozenset({"image_to_video", "transition_video", "fusion_video",
                              "multi_transition_video", "image_template_generate"})
#: Uploads PixVerse reviews: moderation there is the upload reference's HTTP 500 body
#: with err_code 500052 (``PixverseAdapter.moderated_operations``).
REVIEWED_UPLOADS = frozenset({"upload_image"})
UPLOAD_MODERATION = 500052

# Messages for codes the contract's x-errcodes may not list (yet).
_FALLBACK_MESSAGES = {500100: "Internal error, please try again later"}


def errcode_for(adapter: Any, op: Operation, fault: InjectedError) -> tuple[int, str]:
    """The (ErrCode, ErrMsg) PixVerse sends for ``fault`` on ``op``."""
    messages: dict[int, str] = getattr(adapter, "messages", {})
    if fault.moderation:
        code = IMAGE_MODERATION if op.operation_id in IMAGE_OPERATIONS else PRE_MODERATION
    elif fault.errcode is not None:
        code = fault.errcode
    elif fault.status == 401:
        s = adapter.settings.pixverse
        return s.auth_err_code, fault.message or s.auth_err_msg
    elif fault.status is not None:
        code = STATUS_ERRCODES[fault.status]
    else:
        raise ValueError("an injected error needs a status, an errcode or moderation")
    message = fault.message or messages.get(code) or _FALLBACK_MESSAGES.get(code) or f"ErrCode {code}"
    return code, message


def fault_reply(adapter: Any, op: Operation, request: web.Request, fault: InjectedError) -> Reply:
    """``ProviderAdapter.fault_reply`` for PixVerse: HTTP 200, ``{ErrCode, ErrMsg, Resp: null}``;
    on the image upload, moderation (or ErrCode 500052) is the upload reference's HTTP 500
    ``{"err_code": 500052, "err_msg": str, "resp": ""}``."""
    if op.operation_id in REVIEWED_UPLOADS and (fault.moderation or fault.errcode == UPLOAD_MODERATION):
        messages: dict[int, str] = getattr(adapter, "messages", {})
        return Reply({"err_code": UPLOAD_MODERATION,
                      "err_msg": fault.message or messages.get(UPLOAD_MODERATION, ""), "resp": ""}, 500)
    code, message = errcode_for(adapter, op, fault)
    return Reply(envelope(code, message))


def fault_supported(adapter: Any, op: Operation, fault: InjectedError) -> bool:
    """Every injected error has a PixVerse answer on every operation."""
    return fault.errcode is not None or fault.status is not None or fault.moderation
