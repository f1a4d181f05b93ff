"""The keys the rules schema allows at a place of the file, for "did you mean" hints.

Invariants:
- ``known_keys(path)`` walks the pydantic models from ``Rules`` along a data path (field
  names, list indexes, mapping keys), through ``X | None``, unions, ``list[X]`` and
  ``dict[K, X]``, so every mapping of the schema, however deep, gets its own keys.
- A path that leads to no model (a plain value, a key the schema does not know) has no
  known keys: the caller then gives no hint rather than a wrong one.
- Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from sipguard.policy.model import Rules


def _models(annotation: object) -> list[type[BaseModel]]:
    """The models a value of ``annotation`` may be, at this level (no containers opened)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def _step(annotation: object, part: object) -> list[object]:
    """What the value at ``part`` inside a value of ``annotation`` may be."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Union or type(annotation).__name__ == "UnionType":
        return [a for arg in args for a in _step(arg, part)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return [field.annotation] if field is not None else []
    if origin is list and args and isinstance(part, int):
        return [args[0]]
    if origin is dict and len(args) == 2:
        return [args[1]]
    return []


def known_keys(path: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at ``path`` (``()`` is the top level)."""
    here: list[Any] = [Rules]
    for part in path:
        here = [a for annotation in here for a in _step(annotation, part)]
    keys: dict[str, None] = {}
    for annotation in here:
        for model in _models(annotation):
            keys.update(dict.fromkeys(model.model_fields))
    return list(keys)
