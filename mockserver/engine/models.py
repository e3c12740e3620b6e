"""What the engine's JSON-borne models share (fault rules, delivery faults).

These models arrive as JSON (the control plane, a profile's YAML, the state file) and
are the single source of the control plane's request schemas: ``mockserver/admin/
schemas.py`` writes their JSON Schema (pydantic's ``model_json_schema``, validation mode)
into ``contracts/admin.yaml``.  So each rule a model enforces is stated where the JSON
Schema can see it: a type, a ``Field`` bound, or a ``json_schema_extra`` beside the
validator that enforces it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BeforeValidator, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["COMPONENT", "NULL_MESSAGE", "STRICT", "JsonInt", "OneOrMany", "Omittable", "component"]

T = TypeVar("T")

#: JSON only: no coercion ("503" is not 503, true is not 1), no unknown fields.
STRICT = ConfigDict(extra="forbid", strict=True)

NULL_MESSAGE = "leave the field out instead of null"


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; everything else keeps its type and strict
    # validation rejects what JSON would not call an integer (true, "5", 5.5).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("null", NULL_MESSAGE)
    return value


#: An integer as JSON Schema counts one (5.0 is 5).
JsonInt = Annotated[int, BeforeValidator(_integral)]

#: A field that may be left out (None in Python) but not sent as null: the control
#: plane's documents say "leave a field out rather than sending null".  At run time the
#: type is ``T`` alone with an unvalidated ``None`` default, so the JSON Schema shows no
#: null, ``Field`` bounds apply to ``T`` and errors name the field, not a union branch;
#: type checkers see ``T | None``.
if TYPE_CHECKING:
    Omittable = Annotated[T | None, BeforeValidator(_not_null)]
else:
    Omittable = Annotated[T, BeforeValidator(_not_null)]


class OneOrMany:
    """``Annotated[list[X], OneOrMany()]``: one item or a list of them (a lone string is
    taken as a one-item list); the JSON Schema says ``oneOf: [item, array]`` (validation
    mode) or the array (serialization mode)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            lambda value: [value] if isinstance(value, str) else value, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        array = handler(schema)
        # Stored (serialization mode) it is always the list.
        return {"oneOf": [array["items"], array]} if handler.mode == "validation" else array


#: The key of a schema that stands for a named schema of the contract (see ``component``).
COMPONENT = "x-component"


def component(name: str, **schema: Any) -> WithJsonSchema:
    """A field's JSON Schema is the contract's schema ``name`` (``mockserver/admin/
    schemas.py`` makes it a ``$ref``): for values only known at start-up, such as the
    registered providers, which the contract loader lists in that schema's ``enum``.
    ``schema``: what a reader without the contract sees (``{"type": "string"}``)."""
    # pydantic counts the $refs it writes and refuses one it did not, hence a marker.
    return WithJsonSchema({**schema, COMPONENT: name})
