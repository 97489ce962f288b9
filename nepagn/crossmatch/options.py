"""What a position match is asked to do: which survey, which radius, which astrometric offset, and what becomes
of survey sources with no stored source within the radius; the store columns a survey adds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nepagn.errors import NepagnError
from nepagn.schema import CORE_COLUMNS, HEALPIX_29, TRUE_CLASS

MAX_RADIUS_ARCSEC = 30.0  # beyond this a "match" is no longer a counterpart; the margin cache grows with it
MAX_CANDIDATES = 32  # survey candidates looked for per stored source (more within the radius: count is a floor)
UNMATCHED_CHOICES = ("drop", "append")
ORIGIN_SURVEY = "origin_survey"
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class MatchColumns:
    """Store columns a survey adds to every stored source it is matched to (and to the rows it appends)."""

    survey: str

    @property
    def id(self) -> str:
        return f"{self.survey}_id"

    @property
    def sep(self) -> str:
        return f"{self.survey}_sep_arcsec"

    @property
    def n_candidates(self) -> str:
        return f"{self.survey}_n_candidates"

    @property
    def n_store_candidates(self) -> str:
        return f"{self.survey}_n_store_candidates"

    def names(self) -> list[str]:
        return [self.id, self.sep, self.n_candidates, self.n_store_candidates]

    def dtypes(self) -> dict[str, str]:
        """pandas dtypes: the survey's id as text, the separation in float64, the counts as nullable int16."""
        return {self.id: "string", self.sep: "float64", self.n_candidates: "Int16", self.n_store_candidates: "Int16",
                ORIGIN_SURVEY: "string"}

    def column_meta(self) -> dict[str, dict[str, str]]:
        """Units, UCDs and descriptions (VOParquet, FITS) of the survey's match columns."""
        return {
            self.id: {"ucd": "meta.id.cross", "description": f"Identifier of the matched {self.survey} source"},
            self.sep: {"unit": "arcsec", "ucd": "pos.angDistance",
                       "description": f"Separation to the matched {self.survey} source"},
            self.n_candidates: {"ucd": "meta.number",
                                "description": f"{self.survey} sources within the match radius of this source"},
            self.n_store_candidates: {
                "ucd": "meta.number",
                "description": f"Stored sources within the match radius of the matched {self.survey} source "
                               "(more than 1: it may blend several)"},
            ORIGIN_SURVEY: {"ucd": "meta.dataset",
                            "description": "Survey whose position match added this row as a new source "
                                           "(null: the original ingest or an update by source_id)"},
        }


@dataclass(frozen=True)
class MatchOptions:
    """A position match: `radius_arcsec`, the survey's name (column prefix; default: the column map's name),
    what to do with unmatched survey sources (`drop` or `append`), and the survey's systematic astrometric
    offset from the store (east, north, arcsec) that is removed from its positions before matching."""

    radius_arcsec: float
    survey: str | None = None
    unmatched: str = "drop"
    offset_arcsec: tuple[float, float] = (0.0, 0.0)
    max_candidates: int = MAX_CANDIDATES

    def check(self) -> None:
        """NepagnError (one line, naming the option) for a radius, name, choice or offset that cannot work."""
        if not 0.0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC:
            raise NepagnError(f"--match-radius must be > 0 and <= {MAX_RADIUS_ARCSEC:g} arcsec, "
                              f"got {self.radius_arcsec:g}")
        if self.unmatched not in UNMATCHED_CHOICES:
            raise NepagnError(f"--unmatched must be one of {UNMATCHED_CHOICES}, got {self.unmatched!r}")
        if any(abs(value) > 60.0 for value in self.offset_arcsec):
            raise NepagnError(f"--astrometric-offset must be within 60 arcsec, got {self.offset_arcsec}")
        if self.survey is not None:
            check_survey_name(self.survey)

    def with_survey(self, name: str) -> MatchOptions:
        """These options with the survey named (checked)."""
        check_survey_name(name)
        return MatchOptions(self.radius_arcsec, name, self.unmatched, self.offset_arcsec, self.max_candidates)

    def record(self) -> dict[str, Any]:
        """JSON-ready settings for provenance."""
        return {"survey": self.survey, "radius_arcsec": self.radius_arcsec, "unmatched": self.unmatched,
                "astrometric_offset_arcsec": {"east": self.offset_arcsec[0], "north": self.offset_arcsec[1]},
                "max_candidates": self.max_candidates}


def check_survey_name(name: str) -> None:
    """NepagnError unless `name` makes valid, unclaimed column names (lowercase words joined by `_`)."""
    if not _NAME.match(name) or len(name) > 24:
        raise NepagnError(f"survey name {name!r} must be lowercase letters and digits joined by '_' (at most 24 "
                          "characters; it prefixes the survey's columns); set it with --survey NAME")
    taken = {column.name for column in CORE_COLUMNS} | {HEALPIX_29, TRUE_CLASS, ORIGIN_SURVEY}
    clash = [column for column in MatchColumns(name).names() if column in taken]
    if clash:
        raise NepagnError(f"survey name {name!r} gives columns {clash} that nepagn already uses; pick another")
