"""Typed settings as people type them: one parser for `key=value` text, shared by player specs
(`mcts:400,c_init=1.5`) and training settings (`move37 train connect4 search.c_init=1.5`).

Every field of a settings dataclass carries a one-line description (`setting(default, help)`),
so the command line can list each setting with its default and why it is there.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory=dataclasses.MISSING):
    """A dataclass field with a one-line description (read back by `describe`)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


def describe(cls) -> dict[str, str]:
    """Each field's one-line description, in declaration order."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def parse_bool(text) -> bool:
    """A yes/no setting (true/false, yes/no, on/off, 1/0, any case); anything else is a
    ValueError, never a silent False."""
    word = str(text).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def coerce(name: str, default: Any, value: Any) -> Any:
    """`value` (text, or a value read from TOML) as the type of `default`; a ValueError that
    names the setting and the type it needs otherwise. A None default takes a number."""
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else parse_bool(value)
        if isinstance(value, bool):
            raise ValueError
        if isinstance(default, int):
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if isinstance(default, float) or default is None:
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        kind = ("true or false" if isinstance(default, bool) else "a whole number" if isinstance(default, int)
                else "a number" if isinstance(default, float) or default is None else "text")
        raise ValueError(f"setting {name} needs {kind}, not {value!r}.") from None


def replace_from(config, values: dict, prefix: str = ""):
    """A copy of the dataclass `config` with `values` (name -> text or value) set, each coerced
    to its field's type; an unknown name is a ValueError that lists the known ones."""
    known = [f.name for f in dataclasses.fields(config)]  # declaration order, for the message
    clean = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"unknown setting {prefix}{key!r}; known: {', '.join(prefix + k for k in known)}.")
        clean[key] = coerce(prefix + key, getattr(config, key), value)
    return dataclasses.replace(config, **clean)
