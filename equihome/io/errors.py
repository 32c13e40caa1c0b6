"""Configuration errors in plain words: the rule a pydantic error stands for, named with the
field's path and the offending value (``config._translate`` builds ConfigError entries)."""

import difflib
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[str | int, ...]


def _path(loc: Loc) -> str:
    """Render a location as ``price_path.volatility.red`` or ``tranches[1].name``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).removeprefix(".")


def _show(value: Any, tidy: bool = True) -> str:
    """Readable value for a message (``tidy``: integral floats without ``.0``), cut at 120 chars."""
    if tidy and isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_OBJECT = "must be an object (a mapping of field names to values)"
_TYPE_RULES = {
    **dict.fromkeys(("float_type", "float_parsing"), "must be a number"),
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "must be an integer"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "must be true or false"),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), _OBJECT),
    "string_type": "must be a string", "string_too_short": "must be a non-empty string",
    "list_type": "must be a list", "finite_number": "must be a finite number",
}


def _lookup(loc: Loc, root: type[BaseModel]) -> tuple[Any, list[Any]]:
    """Type and constraint metadata of the field at ``loc`` below ``root`` (None if unknown)."""
    ann: Any = root
    metas: list[Any] = []
    for part in loc:
        if isinstance(part, int) and get_origin(ann) is list:
            ann, metas = get_args(ann)[0], []
            if get_origin(ann) is Annotated:  # constrained list items
                ann, *extra = get_args(ann)
                metas = [m for item in extra for m in getattr(item, "metadata", [item])]
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and part in ann.model_fields:
            info = ann.model_fields[str(part)]
            ann, metas = info.annotation, list(info.metadata)
        else:
            return None, []
    return ann, metas


def _range_rule(loc: Loc, ctx: dict[str, Any], root: type[BaseModel]) -> str:
    """The field's whole range in words: ``between 0 and 1``, ``at least 10000``, ..."""
    words = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    metas = _lookup(loc, root)[1]
    found = {k: getattr(m, k) for m in metas for k in words if getattr(m, k, None) is not None}
    found = found or {k: v for k, v in ctx.items() if k in words}
    if {"ge", "le"} <= found.keys():
        return f"between {_show(found['ge'])} and {_show(found['le'])}"
    lower_first = sorted(found.items(), key=lambda kv: kv[0][0] != "g")
    return " and ".join(f"{words[k]} {_show(v)}" for k, v in lower_first)


def _message(err: dict[str, Any], loc: Loc, value: Any, root: type[BaseModel]) -> str:
    """Plain-words rule for one pydantic error (without the field path)."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, f", got {_show(value, tidy=False)}"
    if kind in _RANGE_TYPES:
        return f"must be {_range_rule(loc, ctx, root)}{got}"
    if kind == "extra_forbidden":
        parent = _lookup(loc[:-1], root)[0]
        is_model = isinstance(parent, type) and issubclass(parent, BaseModel)
        allowed = list(parent.model_fields) if is_model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field ({hint}allowed: {', '.join(allowed)})"
    if kind in _TYPE_RULES:
        return _TYPE_RULES[kind] + got
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{got}"
    if kind == "missing":
        return "is required but missing"
    if kind in ("too_short", "too_long"):
        rule = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length", ctx.get("max_length"))
        return f"must have {rule} {limit} entries, got {ctx.get('actual_length')}"
    if kind == "value_error" and ctx.get("error") is not None:
        return f"{ctx['error']}{got}"
    return f"{err['msg']}{got}"
