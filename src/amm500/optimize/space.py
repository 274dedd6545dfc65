"""The search space: which config fields vary, over which values, and the config of each point.

Any ``section.field`` of :class:`amm500.config.Config` can be an axis. Every value (grid) or range
end (tune) is validated through :func:`amm500.config.load_config` before any backtest runs, so a
typo or an out-of-range value is one clear error up front, not a crash an hour into a search.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from amm500.config import SECRET_FIELDS, Config, ConfigError, load_config, parse_overrides, resolve_field

Point = dict[str, Any]  # "section.field" -> value


@dataclass(frozen=True)
class GridAxis:
    """A config field and the explicit values a grid tries."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class RangeAxis:
    """A numeric config field sampled by Optuna between ``low`` and ``high`` (inclusive)."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class ChoiceAxis:
    """A config field Optuna picks from a list (bools, literals, or a hand-picked set of numbers)."""

    name: str
    choices: tuple[Any, ...]


TuneAxis = RangeAxis | ChoiceAxis


def _parse_literal(raw: str) -> Any:
    """A value as ``--set`` reads it: a TOML literal, else the bare string."""
    text = raw.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def field_annotation(name: str, flag: str = "--param") -> Any:
    """The type annotation of ``section.field``; raises ConfigError naming the bad part."""
    if name.rpartition(".")[2] in SECRET_FIELDS:
        raise ConfigError(f"{flag} {name}: secrets cannot be searched over")
    return resolve_field(name, flag).annotation


def _is_numeric(annotation: Any) -> Literal["int", "float"] | None:
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if get_origin(annotation) is not None and float in get_args(annotation):
        return "float"  # e.g. float | None
    return None


def parse_grid_axis(spec: str) -> GridAxis:
    """``section.field=v1,v2,...`` with each value a TOML literal (``5``, ``1.5``, ``true``, ``'bar'``)."""
    if "=" not in spec:
        raise ConfigError(f"--param {spec!r}: expected section.field=v1,v2,... (e.g. trading.leverage=5,10,20)")
    name, raw = (s.strip() for s in spec.split("=", 1))
    field_annotation(name)
    items = [v for v in (x.strip() for x in raw.split(",")) if v]
    if not items:
        raise ConfigError(f"--param {name}: no values given (expected {name}=v1,v2,...)")
    values = tuple(_parse_literal(v) for v in items)
    seen: set[str] = set()
    for text in items:
        if text in seen:
            raise ConfigError(f"--param {name}: value {text} is listed twice")
        seen.add(text)
    return GridAxis(name, values)


def parse_tune_axis(spec: str) -> TuneAxis:
    """``section.field=low:high[:log|int]`` for a range, or ``=a,b,c`` for a categorical choice."""
    if "=" not in spec:
        raise ConfigError(f"--param {spec!r}: expected section.field=low:high[:log|int] or section.field=a,b,c")
    name, raw = (s.strip() for s in spec.split("=", 1))
    annotation = field_annotation(name)
    if ":" not in raw:
        grid = parse_grid_axis(spec)
        return ChoiceAxis(name, grid.values)
    parts = [p.strip() for p in raw.split(":")]
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ConfigError(f"--param {name}={raw}: expected low:high, low:high:log or low:high:int")
    kind = _is_numeric(annotation)
    if kind is None:
        raise ConfigError(f"--param {name}: a range needs a numeric field; give a list instead ({name}=a,b)")
    flags = parts[2:] if len(parts) == 3 else []
    if flags and flags[0] not in ("log", "int"):
        raise ConfigError(f"--param {name}={raw}: the third part must be 'log' or 'int' (got {flags[0]!r})")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"--param {name}={raw}: low and high must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"--param {name}={raw}: need finite low < high")
    log = "log" in flags
    integer = kind == "int" or "int" in flags
    if log and low <= 0:
        raise ConfigError(f"--param {name}={raw}: a log range needs low > 0")
    if integer and (low != int(low) or high != int(high)):
        raise ConfigError(f"--param {name}={raw}: an integer field needs integer bounds")
    return RangeAxis(name, low, high, log=log, integer=integer)


def nest(point: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"trading.leverage": 5}`` -> ``{"trading": {"leverage": 5}}`` (load_config's override shape)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in point.items():
        section, fname = key.split(".", 1)
        out.setdefault(section, {})[fname] = value
    return out


def _merge(base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


@dataclass
class SearchSpace:
    """The base configuration (file + ``--set``) plus the axes that vary."""

    config_path: Path | None = None
    base_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    axes: Sequence[GridAxis | RangeAxis | ChoiceAxis] = ()

    @classmethod
    def build(
        cls,
        axes: Sequence[GridAxis | RangeAxis | ChoiceAxis],
        config_path: Path | None = None,
        sets: Iterable[str] = (),
    ) -> SearchSpace:
        names = [a.name for a in axes]
        if not names:
            raise ConfigError("--param: give at least one axis (e.g. --param trading.leverage=5,10)")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"--param {dupes[0]}: the same field is given twice; list all its values in one --param")
        base = parse_overrides(list(sets))
        for name in names:
            section, fname = name.split(".", 1)
            if fname in base.get(section, {}):
                raise ConfigError(f"{name} is both a --param axis and a --set value; keep one")
        space = cls(config_path, base, tuple(axes))
        space.base_config()  # the base itself must be valid
        return space

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]

    def base_config(self) -> Config:
        return load_config(self.config_path, self.base_overrides)

    def config_for(self, point: Mapping[str, Any]) -> Config:
        """The effective config of one point; ConfigError names the point and the field."""
        try:
            return load_config(self.config_path, _merge(self.base_overrides, nest(point)))
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise ConfigError(f"--param point ({shown}) is not a valid config:\n{exc}") from None

    def normalized(self, point: Mapping[str, Any], config: Config) -> Point:
        """The point's values as the config holds them (``1`` -> ``1.0`` for a float field)."""
        out: Point = {}
        for name in point:
            section, fname = name.split(".", 1)
            value = getattr(getattr(config, section), fname)
            out[name] = value if isinstance(value, bool | int | float | str) or value is None else str(value)
        return out

    def grid_points(self) -> list[tuple[Point, Config]]:
        """Every combination of the grid axes, validated; raises on the first bad point."""
        axes = [a for a in self.axes if isinstance(a, GridAxis)]
        if len(axes) != len(self.axes):
            raise ConfigError("--param: grid axes take a list of values (section.field=v1,v2,...), not a range")
        out: list[tuple[Point, Config]] = []
        keys: set[tuple[Any, ...]] = set()
        for combo in itertools.product(*(a.values for a in axes)):
            raw = dict(zip(self.names, combo, strict=True))
            cfg = self.config_for(raw)
            point = self.normalized(raw, cfg)
            ident = tuple(point.values())
            if ident in keys:
                raise ConfigError(f"--param: two values become the same point {point} (e.g. 1 and 1.0)")
            keys.add(ident)
            out.append((point, cfg))
        return out

    def check_tune_bounds(self) -> None:
        """Validate each range end and each choice on its own (other axes at their base values)."""
        for axis in self.axes:
            values: tuple[Any, ...]
            if isinstance(axis, RangeAxis):
                values = (int(axis.low), int(axis.high)) if axis.integer else (axis.low, axis.high)
            elif isinstance(axis, ChoiceAxis):
                values = axis.choices
            else:
                values = axis.values
            for value in values:
                try:
                    load_config(self.config_path, _merge(self.base_overrides, nest({axis.name: value})))
                except ConfigError as exc:
                    raise ConfigError(f"--param {axis.name}: value {value!r} is not valid:\n{exc}") from None


def relevance_warnings(space: SearchSpace) -> list[str]:
    """Axes that cannot change the result under the base config (a grid would repeat work)."""
    base = space.base_config()
    notes = []
    fill_model_varies = "backtest.fill_model" in space.names
    if "backtest.fill_rate" in space.names and base.backtest.fill_model != "bar" and not fill_model_varies:
        notes.append(
            "backtest.fill_rate only matters when backtest.fill_model = 'bar'; with the queue-aware 'tick' "
            "model its values give identical results (add --set backtest.fill_model=bar, or drop the axis)"
        )
    return notes
