"""Column maps: which input column is which canonical column, how labels are encoded, what means "missing".

A column map is a TOML file (catalogs/columns/*.toml, or the user's own); docs/store.md shows
how to write one. `ColumnMap.apply` turns a raw input frame into the canonical schema
(nepagn.schema): renamed, converted to canonical dtypes, sentinels and empty cells as nulls,
labels encoded as AGN / SFG / null.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nepagn.bands import Band, load_registry
from nepagn.errors import InputError
from nepagn.schema import (
    CORE_COLUMNS,
    DEC,
    LABEL,
    LABEL_AGN,
    LABEL_SFG,
    RA,
    SOURCE_ID,
    TRUE_CLASS,
    TRUE_CLASSES,
    TRUTH_COLUMNS,
)
from nepagn.validation import RowProblem, example

log = logging.getLogger(__name__)

_MAPPABLE = {column.name: column for column in CORE_COLUMNS + TRUTH_COLUMNS if column.name != LABEL}
_TOP_KEYS = {"name", "description", "missing", "canonical_bands", "columns", "bands", "label"}
_LABEL_KEYS = {"from", LABEL_AGN, LABEL_SFG, "unlabelled", "missing"}


@dataclass(frozen=True)
class ColumnRule:
    """One canonical column taken from one input column, with that column's extra missing-value sentinels."""

    canonical: str
    source: str
    missing: tuple = ()


@dataclass(frozen=True)
class LabelRule:
    """How the input encodes the ground-truth class: which values mean AGN, SFG, or no label."""

    source: str
    agn: tuple
    sfg: tuple
    unlabelled: tuple = ()
    missing: tuple = ()


def _token(value: Any) -> str:
    """A comparable form of a label value: numbers by value (1, 1.0 and '1' agree), text stripped."""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value).strip()


def _is_numeric_sentinel(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _blank_to_na(series: pd.Series, sentinels: tuple) -> pd.Series:
    """Text cells: stripped, with empty strings and text sentinels turned into nulls."""
    text = series.astype("string").str.strip()
    text_sentinels = [str(value) for value in sentinels if not _is_numeric_sentinel(value)]
    return text.mask((text == "") | text.isin(text_sentinels))


def _numeric_sentinel_mask(values: np.ndarray, sentinels: tuple) -> np.ndarray:
    mask = np.zeros(values.shape, dtype=bool)
    for value in sentinels:
        if _is_numeric_sentinel(value):
            mask |= np.isclose(values, float(value), rtol=1e-6, atol=1e-9)
    return mask


def _to_float(series: pd.Series, sentinels: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Float values with sentinels as NaN, and the mask of cells that were present but not numbers."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        bad = np.zeros(len(series), dtype=bool)
    else:
        text = _blank_to_na(series, sentinels)
        numbers = pd.to_numeric(text, errors="coerce")
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        bad = (numbers.isna() & text.notna()).to_numpy()
    values = np.where(_numeric_sentinel_mask(values, sentinels), np.nan, values)
    return values, bad


def _to_text(series: pd.Series, sentinels: tuple) -> pd.Series:
    """Text values with empty cells and text sentinels as nulls; integral numbers written without '.0'."""
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(values) & (np.mod(values, 1) == 0)
        text = pd.Series(
            [
                str(int(v)) if ok else (None if np.isnan(v) else repr(float(v)))
                for v, ok in zip(values, integral, strict=True)
            ],
            index=series.index,
            dtype="string",
        )
    else:
        text = series.astype("string")
    return _blank_to_na(text, sentinels)


def resolve_column_map(value: str | Path) -> Path:
    """A column map file: a path, or the name of a shipped map in catalogs/columns (e.g. 'mock').

    Every command that takes --columns accepts both; NepagnError listing the shipped names if neither.
    """
    from nepagn.errors import NepagnError
    from nepagn.resources import catalogs_dir

    path = Path(value)
    if path.is_file():
        return path
    shipped = catalogs_dir() / "columns" / f"{value}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in (catalogs_dir() / "columns").glob("*.toml"))
    raise NepagnError(f"column map {str(value)!r} is neither a file nor a shipped map ({', '.join(names)})")


class ColumnMap:
    """A loaded column map (TOML): input column -> canonical column rules, label encoding, missing values."""

    def __init__(
        self,
        path: Path,
        name: str,
        description: str,
        missing: tuple,
        columns: tuple[ColumnRule, ...],
        bands: tuple[tuple[Band, ColumnRule, ColumnRule], ...],
        label: LabelRule | None,
        canonical_bands: bool = False,
    ):
        self.path, self.name, self.description, self.missing = path, name, description, missing
        self.columns, self.bands, self.label, self.canonical_bands = columns, bands, label, canonical_bands

    @classmethod
    def load(cls, path: str | Path) -> ColumnMap:
        """Read and check a column map; InputError naming the file and key on any problem."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InputError(path, "column map file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, f"not valid TOML: {exc}") from exc
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise InputError(path, f"unknown keys {unknown}; expected some of {sorted(_TOP_KEYS)}")
        missing = tuple(_list(path, "missing", data.get("missing", [])))
        columns = tuple(_column_rule(path, key, value) for key, value in data.get("columns", {}).items())
        registry = {band.id: band for band in load_registry()}
        bands = []
        for band_id, spec in data.get("bands", {}).items():
            if band_id not in registry:
                raise InputError(
                    path,
                    f"[bands] key {band_id!r} is not a band of the registry "
                    f"(catalogs/bands_nepw.csv); known: {', '.join(registry)}",
                )
            if not isinstance(spec, dict) or set(spec) - {"mag", "err", "missing"} or not {"mag", "err"} <= set(spec):
                raise InputError(path, f'[bands] {band_id!r} must be {{ mag = "...", err = "..." }}')
            extra = tuple(_list(path, f"bands.{band_id}.missing", spec.get("missing", [])))
            band = registry[band_id]
            bands.append(
                (band, ColumnRule(band.mag_column, spec["mag"], extra), ColumnRule(band.err_column, spec["err"], extra))
            )
        order = {band_id: index for index, band_id in enumerate(registry)}
        bands.sort(key=lambda entry: order[entry[0].id])
        label = _label_rule(path, data["label"]) if "label" in data else None
        mapped = {rule.canonical for rule in columns}
        if SOURCE_ID not in mapped:
            raise InputError(path, f"[columns] must map {SOURCE_ID!r} (every row needs a unique id)")
        if (RA in mapped) != (DEC in mapped):
            raise InputError(path, "[columns] must map both 'ra' and 'dec', or neither (a positionless catalogue)")
        return cls(
            path,
            str(data.get("name", path.stem)),
            str(data.get("description", "")),
            missing,
            columns,
            tuple(bands),
            label,
            bool(data.get("canonical_bands", False)),
        )

    @property
    def has_positions(self) -> bool:
        """True when the map gives ra/dec; False for positionless catalogues."""
        return any(rule.canonical == RA for rule in self.columns)

    def band_rules(self, available: list[str] | None = None) -> tuple[tuple[Band, ColumnRule, ColumnRule], ...]:
        """The explicit [bands], plus (with canonical_bands) registry bands present under canonical names."""
        if not self.canonical_bands or available is None:
            return self.bands
        explicit = {band.id for band, _, _ in self.bands}
        present = set(available)
        found = [
            (band, ColumnRule(band.mag_column, band.mag_column), ColumnRule(band.err_column, band.err_column))
            for band in load_registry()
            if band.id not in explicit and band.mag_column in present and band.err_column in present
        ]
        order = {band.id: index for index, band in enumerate(load_registry())}
        return tuple(sorted(self.bands + tuple(found), key=lambda entry: order[entry[0].id]))

    def input_columns(self, available: list[str]) -> list[str]:
        """The input columns this map reads (for column projection when reading the input)."""
        rules = list(self.columns) + [rule for _, mag, err in self.band_rules(available) for rule in (mag, err)]
        names = [rule.source for rule in rules] + ([self.label.source] if self.label else [])
        return list(dict.fromkeys(names))

    def output_columns(self, available: list[str]) -> list[str]:
        """The canonical columns apply() produces, in storage order."""
        names = [column.name for column in CORE_COLUMNS]
        for _, mag, err in self.band_rules(available):
            names += [mag.canonical, err.canonical]
        if any(rule.canonical == TRUE_CLASS for rule in self.columns):
            names.append(TRUE_CLASS)
        return names

    def check_columns(self, available: list[str], source: object) -> None:
        """InputError (file, column) if a column the map names is not in the input."""
        missing = [name for name in self.input_columns(available) if name not in set(available)]
        if missing:
            raise InputError(
                source,
                f"column map {self.path.name} names input columns {missing} that the input "
                f"does not have (it has {len(available)} columns)",
                column=missing[0],
            )

    def convert(self, raw: pd.DataFrame, source: object = "<frame>") -> tuple[pd.DataFrame, list[RowProblem]]:
        """Canonical frame (bad cells null) and the row problems met: non-numeric values, unknown labels."""
        available = list(raw.columns)
        self.check_columns(available, source)
        out: dict[str, Any] = {}
        problems: list[RowProblem] = []
        rules = {rule.canonical: rule for rule in self.columns}
        for _, mag, err in self.band_rules(available):
            rules[mag.canonical], rules[err.canonical] = mag, err
        for name in self.output_columns(available):
            dtype = _MAPPABLE[name].dtype if name in _MAPPABLE else "float32"
            if name == LABEL:
                out[name] = (
                    self._labels(raw, self.label, problems) if self.label
                    else pd.Series(pd.NA, index=raw.index, dtype="string")
                )
                continue
            rule = rules.get(name)
            if rule is None:
                out[name] = pd.Series(
                    pd.NA if dtype == "string" else np.nan,
                    index=raw.index,
                    dtype="string" if dtype == "string" else dtype,
                )
                continue
            sentinels = self.missing + rule.missing
            if dtype == "string":
                out[name] = _to_text(raw[rule.source], sentinels)
                if name == TRUE_CLASS:
                    bad = (out[name].notna() & ~out[name].isin(TRUE_CLASSES)).to_numpy()
                    if bad.any():
                        values = out[name].to_numpy()
                        problems.append(
                            RowProblem(
                                rule.source,
                                f"true_class must be one of {TRUE_CLASSES}, e.g. {example(values[bad])!r}",
                                bad,
                                values,
                            )
                        )
                continue
            values, bad = _to_float(raw[rule.source], sentinels)
            if bad.any():
                raw_values = raw[rule.source].to_numpy()  # as read: the quarantine quotes them, the store gets null
                problems.append(
                    RowProblem(rule.source, f"non-numeric values (for {name}), e.g. {example(raw_values[bad])!r}",
                               bad, raw_values)
                )
            out[name] = pd.Series(values.astype(dtype), index=raw.index)
        frame = pd.DataFrame(out).reset_index(drop=True)
        return frame, problems

    def apply(self, raw: pd.DataFrame, source: object = "<frame>") -> pd.DataFrame:
        """Canonical frame from `raw`; InputError (file, column, rows affected) on the first problem met."""
        frame, problems = self.convert(raw, source)
        if problems:
            first = problems[0]
            raise InputError(source, first.problem, column=first.column, rows=first.count)
        return frame

    def _labels(self, raw: pd.DataFrame, rule: LabelRule, problems: list[RowProblem]) -> pd.Series:
        values = raw[rule.source]
        text = (
            _blank_to_na(values, self.missing + rule.missing) if not pd.api.types.is_numeric_dtype(values) else values
        )
        if pd.api.types.is_numeric_dtype(text):
            array = text.to_numpy(dtype=float, na_value=np.nan)
            text = pd.Series(array, index=values.index).mask(_numeric_sentinel_mask(array, self.missing + rule.missing))
        encoding = {**{_token(v): LABEL_AGN for v in rule.agn}, **{_token(v): LABEL_SFG for v in rule.sfg}}
        unlabelled = {_token(v) for v in rule.unlabelled}
        present = text.notna().to_numpy()
        tokens = pd.Series(
            [_token(v) if ok else None for v, ok in zip(text.to_numpy(), present, strict=True)], dtype="object"
        )
        labels = tokens.map(encoding).astype("string")
        unknown = present & labels.isna().to_numpy() & ~tokens.isin(unlabelled).to_numpy()
        if unknown.any():
            raw_values = values.to_numpy()
            encodings = f"AGN {list(rule.agn)}, SFG {list(rule.sfg)} nor unlabelled {list(rule.unlabelled)}"
            problems.append(
                RowProblem(
                    rule.source,
                    f"label value {example(raw_values[unknown])!r} is neither {encodings}",
                    unknown,
                    raw_values,
                    what=f"label value is neither {encodings}",
                )
            )
        labels.index = raw.index
        return labels


def _list(path: Path, key: str, value: Any) -> list:
    if not isinstance(value, list):
        raise InputError(path, f"key {key!r} must be a list of values")
    return value


def _column_rule(path: Path, key: str, value: Any) -> ColumnRule:
    if key == LABEL:
        raise InputError(path, "[columns] 'label' is not a plain column: describe its encoding in a [label] table")
    if key not in _MAPPABLE:
        raise InputError(
            path, f"[columns] key {key!r} is not a canonical column; known: {sorted(_MAPPABLE)} (bands go in [bands])"
        )
    if isinstance(value, str):
        return ColumnRule(key, value)
    if isinstance(value, dict) and "from" in value and not set(value) - {"from", "missing"}:
        return ColumnRule(
            key, str(value["from"]), tuple(_list(path, f"columns.{key}.missing", value.get("missing", [])))
        )
    raise InputError(path, f'[columns] {key!r} must be an input column name or {{ from = "...", missing = [...] }}')


def _label_rule(path: Path, value: Any) -> LabelRule:
    if not isinstance(value, dict) or "from" not in value:
        raise InputError(path, "[label] must give `from` (the input column) and the AGN / SFG values")
    unknown = sorted(set(value) - _LABEL_KEYS)
    if unknown:
        raise InputError(path, f"[label] unknown keys {unknown}; expected some of {sorted(_LABEL_KEYS)}")
    if not value.get(LABEL_AGN) or not value.get(LABEL_SFG):
        raise InputError(path, "[label] must list the input values meaning AGN and SFG, e.g. AGN = [1], SFG = [0]")
    return LabelRule(
        str(value["from"]),
        tuple(_list(path, "label.AGN", value[LABEL_AGN])),
        tuple(_list(path, "label.SFG", value[LABEL_SFG])),
        tuple(_list(path, "label.unlabelled", value.get("unlabelled", []))),
        tuple(_list(path, "label.missing", value.get("missing", []))),
    )
