"""The control plane's request schemas, generated from the pydantic models that
validate them, so each is written once (issue 16).

``contracts/admin.yaml`` holds, at the end of ``components/schemas``, a block this module
writes: the JSON Schema of each model in :data:`MODELS` (pydantic's ``models_json_schema``
in validation mode, ``$ref`` between them as ``#/components/schemas/<name>``), of the
engine's enums (:data:`ENUMS`) and of the answers that show a model as stored
(:data:`VIEWS`, serialization mode plus the fields the answer adds), with
pydantic's titles and ``default: null`` left out, docstrings as descriptions and each
``x-component`` marker (``mockserver.engine.models.component``) made a ``$ref``.

The block is committed, not made at start-up: the file any OpenAPI tool reads (the
wheel's copy, ``mockserver.testing.contracts``, a user's schemathesis run) is then
whole, the fake starts no slower, and a model change shows up as a contract diff in
review.  ``tests/admin/test_admin_schemas.py`` fails while the block is stale.

    python -m mockserver.admin.schemas           # rewrite contracts/admin.yaml's block
    python -m mockserver.admin.schemas --check   # exit 1 if it is stale (make schemas-check)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ..contract import inline_refs
from ..engine.faults import FaultRule, RuleCounters
from ..engine.jobs import JobState, Outcome
from ..engine.models import COMPONENT
from ..engine.webhooks import DeliveryCounters, DeliveryFault
from ..engine.webhooks.deliveries import DeliveryOutcome

__all__ = ["BEGIN", "END", "ENUMS", "MODELS", "VIEWS", "contract_path", "generated", "render"]

#: The models whose schemas the block holds, by component name (their own ``$ref``
#: targets, such as FaultRule's Latency, come along).
MODELS: tuple[type[BaseModel], ...] = (FaultRule, DeliveryFault)
#: Enums the engine defines: (component name, its Literal type, a description).
ENUMS: tuple[tuple[str, Any, str], ...] = (
    ("State", JobState, "Neutral job state; see design.md for each provider's spelling."),
    ("Outcome", Outcome, "How a job ends: the terminal state its plan draws at creation."),
    ("DeliveryOutcome", DeliveryOutcome,
     "delivered (accepted), failed (answered, not accepted), error (no answer), refused (host not allowed; "
     "never retried), undelivered (the fake shut down first)."),
)
#: Answers that show a model as stored: (component name, the model, the model of the
#: fields the answer adds, such as counters).
VIEWS: tuple[tuple[str, type[BaseModel], type[BaseModel]], ...] = (
    ("FaultRuleView", FaultRule, RuleCounters), ("DeliveryFaultView", DeliveryFault, DeliveryCounters))
REF = "#/components/schemas/"
BEGIN = ("    # Generated from the pydantic models by mockserver/admin/schemas.py (make schemas):"
         " edit the models, not this block.\n")
END = "    # End of the generated schemas.\n"


class _Generator(GenerateJsonSchema):
    # A field's title is its name again: noise in a contract.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _markdown(text: str) -> str:
    """A docstring as a contract description: Sphinx roles and ``literals`` as `code`,
    each paragraph on one line."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))


def _tidy(node: Any) -> Any:
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    if COMPONENT in node:
        return {"$ref": REF + node[COMPONENT]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _tidy(schema) for name, schema in value.items()}
        elif key == "description" and isinstance(value, str):
            out[key] = _markdown(value)
        else:
            out[key] = _tidy(value)
    return out


def _view(model: type[BaseModel], counters: type[BaseModel]) -> dict[str, Any]:
    # The model as it is dumped (serialization mode; its own $defs inlined, as the
    # validation-mode components keep their names) plus the counters' fields; ``id``
    # is always there.
    shown = model.model_json_schema(mode="serialization", schema_generator=_Generator)
    shown = inline_refs(shown, f"urn:pixverse-mock:view:{model.__name__}")
    shown.pop("$defs", None)
    added = counters.model_json_schema(mode="serialization", schema_generator=_Generator)
    view = {key: value for key, value in shown.items() if key not in ("description", "required", "properties")}
    view["description"] = added.get("description", "")
    view["properties"] = {**shown["properties"], **added["properties"]}
    view["required"] = sorted({"id", *shown.get("required", ()), *added.get("required", ())},
                              key=list(view["properties"]).index)
    return view


def generated(models: Sequence[type[BaseModel]] = MODELS,
              views: Sequence[tuple[str, type[BaseModel], type[BaseModel]]] = VIEWS) -> dict[str, Any]:
    """Component name -> JSON Schema: ``models`` (validation mode) and the models they
    refer to, in the order pydantic names them, then :data:`ENUMS` and ``views``."""
    _, top = models_json_schema([(model, "validation") for model in models],
                                ref_template=REF + "{model}", schema_generator=_Generator)
    found = dict(top.get("$defs", {}))
    found.update((name, {**TypeAdapter(kind).json_schema(), "description": text}) for name, kind, text in ENUMS)
    found.update((name, _view(model, counters)) for name, model, counters in views)
    return {name: _tidy(schema) for name, schema in found.items()}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Descriptions folded (">-") like the hand-written ones, not quoted.
    style = ">" if len(data) > 60 or "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _block(models: Sequence[type[BaseModel]], views: Sequence[tuple[str, type[BaseModel], type[BaseModel]]]) -> str:
    text = yaml.dump(generated(models, views), Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=92,
                     allow_unicode=True)
    return BEGIN + "".join(f"    {line}\n" if line else "\n" for line in text.splitlines()) + END


def render(document: str, models: Sequence[type[BaseModel]] = MODELS,
           views: Sequence[tuple[str, type[BaseModel], type[BaseModel]]] = VIEWS) -> str:
    """``document`` (the text of contracts/admin.yaml) with its generated block made
    anew from ``models`` and ``views``.  Raises ValueError if the block's markers are
    missing."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError("no generated block (its BEGIN and END lines) in the admin contract")
    return document[:start] + _block(models, views) + document[end + len(END):]


def contract_path() -> Path:
    """contracts/admin.yaml of this checkout (the package links to it)."""
    return Path(__file__).resolve().parent.parent / "contracts" / "admin.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockserver.admin.schemas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is stale; write nothing")
    parser.add_argument("--path", type=Path, default=None, help="the admin contract (default: this checkout's)")
    args = parser.parse_args(argv)
    path = args.path or contract_path()
    current = path.read_text()
    wanted = render(current)
    if wanted == current:
        return 0
    if args.check:
        print(f"{path}: the generated schemas are stale; run `make schemas`", file=sys.stderr)
        return 1
    path.write_text(wanted)
    print(f"{path}: generated schemas rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
