"""Typed configuration: dataclass fields carry their range and help text.

A method's configuration is a frozen dataclass whose fields are declared with :func:`param`.
The CLI (``--set key=value``) and the app's forms are rendered from :func:`describe`, and
:func:`validate` checks a configuration against the same declarations, so every front end
enforces one table of rules.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


def param(
    default: Any,
    *,
    help: str,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
    log: bool = False,
    advanced: bool = False,
    kinds: tuple[str, ...] | None = None,
) -> Any:
    """Declare a configuration field with its default, allowed range and help text;
    ``kinds`` names the data kinds it applies to (a form for other data leaves it out)."""
    metadata = {
        "kinds": kinds,
        "help": help,
        "low": low,
        "high": high,
        "choices": choices,
        "log": log,
        "advanced": advanced,
    }
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults so configurations stay immutable")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ParamSpec:
    """One configuration field, as a form or a command line needs it."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    advanced: bool = False
    optional: bool = False
    # the default shown is a suggestion for this machine, not the configuration's own
    # default, so a form must send it even when it is left as it is
    suggested: bool = False
    from_data: bool = False  # the suggestion was derived from the training set
    kinds: tuple[str, ...] | None = None  # data kinds it applies to (None: every kind)


def _resolve_type(annotation: Any) -> tuple[type, bool]:
    """Return (base type, optional) for an annotation such as ``float | None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        base, _ = _resolve_type(args[0])
        return base, True
    if origin is tuple:
        return tuple, False
    return annotation, False


def describe(
    config_cls: type,
    *,
    suggested: Mapping[str, Any] | None = None,
    from_data: Collection[str] = (),
) -> list[ParamSpec]:
    """List the fields of a configuration dataclass with their declared metadata.

    ``suggested`` replaces some defaults with values suggested for this machine (e.g. a
    lighter network on a CPU) or derived from the training set (the names in ``from_data``);
    those specs are marked ``suggested`` and say so in the help.
    """
    hints = typing.get_type_hints(config_cls)
    specs = []
    for f in dataclasses.fields(config_cls):
        base, optional = _resolve_type(hints[f.name])
        meta = f.metadata
        choices = meta.get("choices")
        if choices is None and isinstance(base, type) and issubclass(base, enum.Enum):
            choices = tuple(base)
        specs.append(
            ParamSpec(
                name=f.name,
                type=base,
                default=f.default,
                help=meta.get("help", ""),
                low=meta.get("low"),
                high=meta.get("high"),
                choices=choices,
                log=meta.get("log", False),
                advanced=meta.get("advanced", False),
                optional=optional,
                kinds=meta.get("kinds"),
            )
        )
    for name, value in (suggested or {}).items():
        i = next(i for i, s in enumerate(specs) if s.name == name)
        spec = specs[i]
        where = "From your data" if name in from_data else "Suggested on this machine"
        own = "empty" if spec.default is None else getattr(spec.default, "value", spec.default)
        note = f"{where}; the setting's own default is {own}."
        specs[i] = dataclasses.replace(
            spec,
            default=value,
            suggested=True,
            from_data=name in from_data,
            help=f"{spec.help} {note}".strip(),
        )
    return specs


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong type."""


def validate(config: Any) -> None:
    """Check every field of ``config`` against its declared type, range and choices."""
    for spec in describe(type(config)):
        value = getattr(config, spec.name)
        if value is None:
            if not spec.optional:
                raise ConfigError(f"{spec.name} must be set")
            continue
        if spec.type is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{spec.name} must be true or false, got {value!r}")
            continue
        if spec.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{spec.name} must be an integer, got {value!r}")
        if spec.type is float and not isinstance(value, int | float):
            raise ConfigError(f"{spec.name} must be a number, got {value!r}")
        if spec.choices is not None and value not in spec.choices:
            names = ", ".join(str(getattr(c, "value", c)) for c in spec.choices)
            raise ConfigError(f"{spec.name} must be one of {names}, got {value!r}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if not isinstance(v, int | float) or isinstance(v, bool):
                continue
            if spec.low is not None and v < spec.low:
                raise ConfigError(f"{spec.name} must be ≥ {spec.low}, got {v}")
            if spec.high is not None and v > spec.high:
                raise ConfigError(f"{spec.name} must be ≤ {spec.high}, got {v}")


def parse_value(spec: ParamSpec, text: str) -> Any:
    """Parse a command-line string into the field's type (``none`` for optional fields)."""
    text = text.strip()
    if spec.optional and text.lower() in ("", "none", "null"):
        return None
    if spec.type is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{spec.name}: expected true/false, got {text!r}")
    if isinstance(spec.type, type) and issubclass(spec.type, enum.Enum):
        try:
            return spec.type(text)
        except ValueError:
            names = ", ".join(m.value for m in spec.type)
            raise ConfigError(f"{spec.name}: expected one of {names}, got {text!r}") from None
    if spec.type is tuple:
        parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
        try:
            return tuple(float(p) if "." in p or "e" in p.lower() else int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"{spec.name}: expected numbers separated by commas") from None
    try:
        return spec.type(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{spec.name}: cannot read {text!r} as {spec.type.__name__}") from None


def with_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of ``config`` with string or typed overrides applied and validated."""
    specs = {s.name: s for s in describe(type(config))}
    changes = {}
    for key, value in overrides.items():
        if key not in specs:
            known = ", ".join(sorted(specs))
            raise ConfigError(f"unknown setting {key!r}; known settings: {known}")
        changes[key] = parse_value(specs[key], value) if isinstance(value, str) else value
    updated = dataclasses.replace(config, **changes)
    validate(updated)
    return updated


def to_json(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a configuration (enums as their values, tuples as lists)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_json(config_cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a configuration from :func:`to_json` output; unknown keys are an error."""
    specs = {s.name: s for s in describe(config_cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in specs:
            raise ConfigError(f"unknown setting {key!r} for {config_cls.__name__}")
        spec = specs[key]
        if value is not None and isinstance(spec.type, type) and issubclass(spec.type, enum.Enum):
            value = spec.type(value)
        elif value is not None and spec.type is tuple:
            value = tuple(value)
        kwargs[key] = value
    return config_cls(**kwargs)
