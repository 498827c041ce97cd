"""TOML files and plain dicts into dataclasses, with errors naming the file and the key.

The one configuration loader of the project (training, synthesis, fusion and service settings).
Bottom layer: standard library only, imports nothing of this project, so ``isp``,
``hardware_profiles``, ``deblurnet`` and ``burstcap`` may all use it. Each package turns
:class:`ConfigError` into its own error, so the command lines print it as one line.

- ``load_toml(path, cls, *, table=None, base=None, noun="option") -> cls``: read the file (the
  ``[table]`` of it when ``table`` is given; a missing table is empty), then :func:`from_dict`;
- ``from_dict(cls, values, *, source, base=None, noun="option", prefix="") -> cls``: the dataclass
  ``cls`` from a mapping, starting from ``base`` (``dataclasses.replace``) or the defaults;
- ``read_toml(path) -> dict``: the parsed file.

Rules: keys are field names (``-`` may stand for ``_``); an unknown key is an error naming the file,
the key and the known ones. Values are checked against the field's type hint: ``int`` (not bool),
``float`` (ints become floats), ``str``, ``bool``, ``Path`` (from a string, kept as written:
relative paths are not resolved here), ``tuple[X, ...]`` / ``tuple[X, Y]`` and ``list[X]`` (from
TOML arrays), ``dict`` (a table, not looked into), ``X | None``, ``Literal[...]`` and nested
dataclasses (a table, checked the same way; its keys are named with dots: ``synth.camera.time_ratio``).
Messages: ``<file>: <key> must be <what>, not <value>`` (``what`` from :func:`describe`: ``an
integer``, ``a string``, ``true or false``, ``tuple[int, int] | None``) and ``<file>: unknown <noun>
<key> (known: ...)``; keys of a ``table`` are shown as ``[table] key``.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, TypeVar

__all__ = ["ConfigError", "describe", "from_dict", "load_toml", "read_toml"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or table that does not fit its dataclass. ``source``: the file (or what
    the values came from); ``key``: the offending key as shown in the message (None: the whole file)."""

    def __init__(self, message: str, source: str, key: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.key = key


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file; a missing, unreadable or invalid file is a ConfigError naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror or exc})",
                          str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML (not UTF-8 text)", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})", str(path)) from None


def load_toml(path: str | Path, cls: type[T], *, table: str | None = None, base: T | None = None,
              noun: str = "option") -> T:
    """``cls`` from the TOML file ``path`` (its ``[table]`` when given), over ``base``."""
    document = read_toml(path)
    values: Any = document
    prefix = ""
    if table is not None:
        values = document.get(table, {})
        prefix = f"[{table}] "
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {table} must be a table, not {_show(values)}", str(path), table)
    return from_dict(cls, values, source=str(path), base=base, noun=noun, prefix=prefix)


def from_dict(cls: type[T], values: Mapping[str, Any], *, source: str, base: T | None = None,
              noun: str = "option", prefix: str = "") -> T:
    """The dataclass ``cls`` from ``values`` (e.g. a TOML table), starting from ``base`` (None: the
    defaults). Errors are ConfigErrors ``<source>: <prefix><key> ...``; ``noun`` names a key in the
    unknown-key message ("fuse option", "setting")."""
    return _Reader(source, noun).dataclass(cls, values, prefix, base)


class _Mismatch(Exception):
    """A value that does not fit a hint (turned into a ConfigError for the whole key)."""


class _Reader:
    def __init__(self, source: str, noun: str) -> None:
        self.source = source
        self.noun = noun

    def error(self, message: str, key: str | None) -> ConfigError:
        return ConfigError(f"{self.source}: {message}", self.source, key)

    def dataclass(self, cls: type[T], values: Any, prefix: str, base: Any) -> T:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"{cls!r} is not a dataclass")
        if base is not None and not isinstance(base, cls):
            raise TypeError(f"base must be a {cls.__name__}, not {type(base).__name__}")
        if not isinstance(values, Mapping):
            where = prefix.rstrip(". ") or "the configuration"
            raise self.error(f"{where} must be a table, not {_show(values)}", where)
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        given: dict[str, Any] = {}
        for key, value in values.items():
            shown = f"{prefix}{key}"
            name = key.replace("-", "_") if isinstance(key, str) else key
            if name not in names:
                raise self.error(f"unknown {self.noun} {shown} (known: {', '.join(names)})", shown)
            if name in given:
                raise self.error(f"{shown} is given twice", shown)
            inner_base = getattr(base, name) if base is not None else None
            try:
                given[name] = self.convert(value, hints[name], shown, inner_base)
            except _Mismatch:
                raise self.error(f"{shown} must be {describe(hints[name])}, not {_show(value)}",
                                 shown) from None
        try:
            return dataclasses.replace(base, **given) if base is not None else cls(**given)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            where = prefix.rstrip(". ")
            raise self.error(f"{where + ': ' if where else ''}{exc}", where or None) from None

    def convert(self, value: Any, hint: Any, shown: str, base: Any = None) -> Any:
        """``value`` as ``hint`` says (lists to tuples, strings to paths, ints to floats); raises
        _Mismatch when it does not fit, ConfigError for errors inside a nested table."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any or hint is object:
            return value
        if origin is typing.Annotated:
            return self.convert(value, args[0], shown, base)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            for arm in args:
                if arm is type(None):
                    continue
                try:
                    return self.convert(value, arm, shown, base)
                except _Mismatch:
                    continue
            raise _Mismatch
        if hint is type(None):
            if value is None:
                return None
            raise _Mismatch
        if origin is typing.Literal:
            if any(type(value) is type(a) and value == a for a in args):
                return value
            raise _Mismatch
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if isinstance(value, hint):
                return value
            if isinstance(value, Mapping):
                return self.dataclass(hint, value, f"{shown}.",
                                      base if isinstance(base, hint) else None)
            raise _Mismatch
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise _Mismatch
        if hint is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise _Mismatch
        if hint is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            raise _Mismatch
        if hint is str:
            if isinstance(value, str):
                return value
            raise _Mismatch
        if isinstance(hint, type) and issubclass(hint, PurePath):
            if isinstance(value, (str, PurePath)):
                return hint(value)
            raise _Mismatch
        if hint in (tuple, list) or origin in (tuple, list):
            if not isinstance(value, (list, tuple)):
                raise _Mismatch
            kind = origin or hint
            if not args:
                items = list(value)
            elif kind is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                if args == ((),):  # tuple[()]
                    args = ()
                if len(value) != len(args):
                    raise _Mismatch
                items = [self.convert(v, a, f"{shown}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
            else:
                items = [self.convert(v, args[0], f"{shown}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if kind is tuple else items
        if hint is dict or origin in (dict, Mapping):
            if isinstance(value, Mapping):
                return dict(value)
            raise _Mismatch
        if isinstance(hint, type):
            if isinstance(value, hint):
                return value
            raise _Mismatch
        return value  # a hint this loader does not know (a TypeVar, a Protocol): left to the dataclass


_WORDS: dict[Any, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def describe(hint: Any) -> str:
    """A type hint in the words of an error message: scalars in words (``an integer``, ``a number``,
    ``a string``, ``true or false``; a path is ``a string``; ``X | None`` reads as X, since TOML has no
    null), tables as ``a table``, a Literal as ``one of 'a', 'b'``; lists as Python writes their hint
    (``tuple[int, int] | None``), which says the length and the element type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if any(_is_list(a) for a in arms) or not arms:
            return _hint_text(hint)
        return " or ".join(describe(a) for a in arms)
    if hint is Any or hint is object:
        return "anything"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint in _WORDS:
        return _WORDS[hint]
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a string"
    if (isinstance(hint, type) and dataclasses.is_dataclass(hint)) or hint is dict \
            or origin in (dict, Mapping):
        return "a table"
    if _is_list(hint):
        return _hint_text(hint)
    return f"a {getattr(hint, '__name__', _hint_text(hint))}"


def _is_list(hint: Any) -> bool:
    return hint in (tuple, list) or typing.get_origin(hint) in (tuple, list)


def _hint_text(hint: Any) -> str:
    """``tuple[int, int] | None``, ``tuple[Path, ...]``: the hint as written in the dataclass."""
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    for module in ("typing.", "pathlib.", "collections.abc."):
        text = text.replace(module, "")
    return text.replace("NoneType", "None").replace("Ellipsis", "...")


def _show(value: Any) -> str:
    """``repr(value)``, shortened to one readable piece of a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
