"""PixVerse ErrCodes and the ``{ErrCode, ErrMsg, Resp}`` envelope.

Every PixVerse answer is HTTP 200; a business error is a non-zero ``ErrCode`` with
``Resp: null``.  The ErrMsg texts live in the contract (``x-errcodes`` of
``contracts/pixverse.yaml``, paraphrasing the table in
shared/providers/pixverse-platform.md section 3), so this module only names the codes.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any

from ...contract import Contract, ContractError, FieldError


class ErrCode(IntEnum):
    """The ErrCodes the fake sends (a subset of the documented table)."""

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
    IMAGE_PATH = 500042
    INSUFFICIENT_BALANCE = 500090


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
_TOO_LONG = {"prompt": ErrCode.PROMPT_TOO_LONG, "negative_prompt": ErrCode.NEGATIVE_PROMPT_TOO_LONG}


def code_for(errors: list[FieldError]) -> ErrCode:
    """The one ErrCode for a request that failed its contract.

    Precedence mirrors how a Go binding layer fails (decode first, then required
    checks, then value checks): wrong JSON type 400013; missing field 400011;
    prompt / negative_prompt too long 400018 / 400019; anything else 400017.
    """
    kinds = {e.kind for e in errors}
    if "type" in kinds:
        return ErrCode.BAD_BINDING
    if "required" in kinds:
        return ErrCode.PARAM_EMPTY
    for e in errors:
        if e.kind == "maxLength" and e.field in _TOO_LONG:
            return _TOO_LONG[e.field]
    return ErrCode.INVALID_PARAM
