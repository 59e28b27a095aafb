"""What every value in remediator shares: frozen, strict models; and a GC pause for pure steps."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticUndefined


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a pure computation.

    Diagnosis, planning and rendering build tens of thousands of small,
    acyclic objects on top of a large inventory; every full collection would
    walk all of them again, which costs as much as the work itself at 10,000
    functions. Reference counting still frees everything; the collector is
    resumed on exit if it was running (nested use is harmless)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Frozen(BaseModel):
    """Base for every value that flows between modules: immutable, strict."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_M = TypeVar("_M", bound=BaseModel)
_object_setattr = object.__setattr__
# model -> its fields, in order, each with its default (``_FACTORY``: call
# the field's default factory, ``_COPY``: pydantic's smart copy of the default)
_FACTORY, _COPY = object(), object()
_LAYOUTS: dict[type[BaseModel], tuple[tuple[str, Any, Any], ...] | None] = {}
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_TEMPLATES: dict[tuple[type[BaseModel], frozenset[str]], dict[str, Any] | None] = {}
_SHARED_DEFAULTS = (type(None), str, int, float, bool)


def _layout(model: type[BaseModel]) -> tuple[tuple[str, Any, Any], ...] | None:
    """How ``model_construct`` fills each field of ``model``, worked out once
    (``None``: a model with aliases or a post-init hook, left to pydantic)."""
    if model in _LAYOUTS:
        return _LAYOUTS[model]
    layout: list[tuple[str, Any, Any]] | None = []
    if model.__pydantic_post_init__ or model.__pydantic_root_model__:
        layout = None
    for name, info in model.__pydantic_fields__.items():
        if layout is None or info.alias is not None or info.validation_alias is not None:
            layout = None
            break
        if info.is_required():
            layout.append((name, PydanticUndefined, None))
        elif info.default_factory is not None:
            layout.append((name, _FACTORY, info))
        elif type(info.default) in _SHARED_DEFAULTS or info.default == ():
            layout.append((name, info.default, None))  # smart_deepcopy returns it as is
        else:
            layout.append((name, _COPY, info))
    _LAYOUTS[model] = None if layout is None else tuple(layout)
    return _LAYOUTS[model]


def shared_fields_set(names: Iterable[str]) -> set[str]:
    """One ``model_fields_set`` per combination of names, shared by the
    models built here: pydantic never mutates a model's own set (``__copy__``
    copies it before ``model_copy`` updates it), and 10,000 identical sets
    would cost megabytes."""
    key = names if isinstance(names, frozenset) else frozenset(names)
    found = _FIELDS_SETS.get(key)
    if found is None:
        found = _FIELDS_SETS[key] = set(key)
    return found


def _template(model: type[BaseModel], names: frozenset[str]) -> dict[str, Any] | None:
    """Every field of ``model`` in order, holding its shared default, when
    ``names`` (the fields given) leave out only fields with a shared default
    (no factory, no copy, none required) and name no other key; else None."""
    key = (model, names)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    layout = _layout(model)
    template: dict[str, Any] | None = None
    if layout is not None and names <= {name for name, _, _ in layout}:
        template = {}
        for name, default, _ in layout:
            if name not in names and (
                default is _FACTORY or default is _COPY or default is PydanticUndefined
            ):
                template = None
                break
            template[name] = default
    _TEMPLATES[key] = template
    return template


def construct(model: type[_M], values: dict[str, Any]) -> _M:
    """``model.model_construct(shared_fields_set(values), **values)``: the
    same instance (same ``__dict__`` in field order, fields set, no extra, no
    private), built without pydantic's per-field alias and default lookups.
    For values already validated (exact types) only."""
    names = frozenset(values)
    template = _template(model, names)
    if template is not None:
        # a dict update keeps each key where the template put it: field order
        m = model.__new__(model)
        _object_setattr(m, "__dict__", {**template, **values})
        _object_setattr(m, "__pydantic_fields_set__", shared_fields_set(names))
        _object_setattr(m, "__pydantic_extra__", None)
        _object_setattr(m, "__pydantic_private__", None)
        return m
    layout = _layout(model)
    if layout is None:
        return model.model_construct(shared_fields_set(values), **values)
    fields: dict[str, Any] = {}
    for name, default, info in layout:
        if name in values:
            fields[name] = values[name]
        elif default is _FACTORY:
            fields[name] = info.get_default(call_default_factory=True, validated_data=fields)
        elif default is _COPY:
            fields[name] = info.get_default(call_default_factory=False)
        elif default is not PydanticUndefined:
            fields[name] = default
    m = model.__new__(model)
    _object_setattr(m, "__dict__", fields)
    _object_setattr(m, "__pydantic_fields_set__", shared_fields_set(values))
    _object_setattr(m, "__pydantic_extra__", None)
    _object_setattr(m, "__pydantic_private__", None)
    return m


def replaced(instance: _M, update: dict[str, Any]) -> _M:
    """``instance.model_copy(update=update)`` for a model ``construct``
    handles (no extra, no private attributes): the same copy, with a shared
    fields set. Values are not validated."""
    if instance.__pydantic_extra__ is not None or instance.__pydantic_private__ is not None:
        return instance.model_copy(update=update)
    cls = type(instance)
    m = cls.__new__(cls)
    _object_setattr(m, "__dict__", {**instance.__dict__, **update})
    _object_setattr(
        m,
        "__pydantic_fields_set__",
        shared_fields_set((*instance.__pydantic_fields_set__, *update)),
    )
    _object_setattr(m, "__pydantic_extra__", None)
    _object_setattr(m, "__pydantic_private__", None)
    return m
