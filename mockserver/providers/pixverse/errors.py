"""PixVerse ErrCodes and the ``{ErrCode, ErrMsg, Resp}`` envelope.

Every PixVerse answer is HTTP 200; a business error is a non-zero ``ErrCode`` with
``Resp: null``.  The ErrMsg texts live in the contract (``x-errcodes`` of
``contracts/pixverse.yaml``, paraphrasing PixVerse's error-code page), so this module
only names the codes.
"""
from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

from ...contract import Contract, ContractError, FieldError


class ErrCode(IntEnum):
    """The documented ErrCodes (PixVerse's error-code page).

    The adapter's own rules send the first group; the rest exist for faults, account
    limits and moderation at submit (injected elsewhere), so every documented code
    has a name and, through ``x-errcodes``, a message.
    """

    SUCCESS = 0
    PARAM_EMPTY = 400011
    BAD_BINDING = 400013
    INVALID_PARAM = 400017
    PROMPT_TOO_LONG = 400018
    NEGATIVE_PROMPT_TOO_LONG = 400019
    INVALID_IMAGE_ID = 400032
    NOT_FOUND = 500008
    IMAGE_TOO_LARGE = 500030
    IMAGE_UNREADABLE = 500031
    IMAGE_FORMAT = 500032
    IMAGE_SIZE = 500033
    IMAGE_PATH = 500042
    CONTENT_DELETED = 500064
    TEMPLATE_NOT_ACTIVATED = 500070
    RESOLUTION_UNSUPPORTED = 500071
    INSUFFICIENT_BALANCE = 500090
    # Not sent by the adapter's rules: the auth setting, faults, account limits.
    INVALID_ACCOUNT = 400012
    NO_PERMISSION = 500020
    UPLOAD_FAILED = 500041
    CONCURRENCY_LIMIT = 500044
    IMAGE_REVIEW_FAILED = 500052  # upload only, HTTP 500 with lower-case keys (faults.py)
    IMAGE_MODERATED = 500054
    EFFECT_ACTIVATION_LIMIT = 500060
    PRE_MODERATION = 500063
    HIGH_LOAD = 500069
    DATABASE_ERROR = 500100


#: Injected HTTP status -> the ErrCode PixVerse answers such a condition with (faults.py;
#: 401 is the configured auth ErrCode, ``settings.pixverse.auth_err_code``).
STATUS_ERRCODES: dict[int, ErrCode] = {
    400: ErrCode.INVALID_PARAM,
    403: ErrCode.NO_PERMISSION,
    404: ErrCode.NOT_FOUND,
    429: ErrCode.CONCURRENCY_LIMIT,   # PixVerse documents no 429
    500: ErrCode.DATABASE_ERROR,      # internal error (third-party code)
    502: ErrCode.HIGH_LOAD,           # system under high load, retry later (third-party code)
    503: ErrCode.HIGH_LOAD,
    504: ErrCode.HIGH_LOAD,
}

#: Messages for codes the contract's x-errcodes may not list (yet).
FALLBACK_MESSAGES = {int(ErrCode.DATABASE_ERROR): "Internal error, please try again later"}


class PixverseError(Exception):
    """Raised by handlers to answer with a business error; ``code`` is an ErrCode."""

    def __init__(self, code: ErrCode) -> None:
        super().__init__(f"PixVerse ErrCode {int(code)}")
        self.code = code


def load_messages(contract: Contract) -> dict[int, str]:
    """ErrCode -> ErrMsg from the contract's ``x-errcodes`` map.

    Raises ContractError if the map is missing or lacks a code of :class:`ErrCode`,
    so a contract edit cannot silently leave the fake without a message.
    """
    raw = contract.document.get("x-errcodes")
    if not isinstance(raw, dict):
        raise ContractError(f"{contract.path.name} has no x-errcodes map")
    messages = {int(code): str(text) for code, text in raw.items()}
    missing = sorted(int(c) for c in ErrCode if int(c) not in messages)
    if missing:
        raise ContractError(f"{contract.path.name} x-errcodes lacks {missing}")
    return messages


def envelope(code: int, message: str, resp: Any = None) -> dict[str, Any]:
    return {"ErrCode": int(code), "ErrMsg": message, "Resp": resp}


# Field -> ErrCode for a too-long value; any other length error is a plain bad value.
_TOO_LONG = {"prompt": ErrCode.PROMPT_TOO_LONG, "restyle_prompt": ErrCode.PROMPT_TOO_LONG,
             "negative_prompt": ErrCode.NEGATIVE_PROMPT_TOO_LONG}

# A rule the contract states in prose-turned-schema names its ErrCode at the start of
# its ``x-message`` ("400011 exactly one of ..."); a rule without one is 400017.
_HINT_CODE = re.compile(r"^\s*(\d{6})\b")


def _hinted(error: FieldError) -> ErrCode | None:
    match = _HINT_CODE.match(error.hint or "")
    if match is None:
        return None
    try:
        return ErrCode(int(match.group(1)))
    except ValueError:
        return None


def code_for(errors: list[FieldError]) -> ErrCode:
    """The one ErrCode for a request that failed its contract.

    Precedence mirrors how a Go binding layer fails (decode first, then required
    checks, then value checks): wrong JSON type 400013; a missing field, or a rule
    whose ``x-message`` names 400011 (neither of an either-or pair), 400011; a
    ``prompt``/``restyle_prompt`` or ``negative_prompt`` too long, at any depth,
    400018 / 400019; another code a rule names; anything else 400017.
    """
    kinds = {e.kind for e in errors}
    if "type" in kinds:
        return ErrCode.BAD_BINDING
    hinted = [_hinted(e) for e in errors]
    if "required" in kinds or ErrCode.PARAM_EMPTY in hinted:
        return ErrCode.PARAM_EMPTY
    for e in errors:
        name = e.field.rsplit(".", 1)[-1]
        if e.kind == "maxLength" and name in _TOO_LONG:
            return _TOO_LONG[name]
    for code in hinted:
        if code is not None:
            return code
    return ErrCode.INVALID_PARAM
