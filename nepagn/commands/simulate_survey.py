"""`nepagn simulate-survey`: a new survey of a mock NEP-Wide catalogue (own ids, scattered positions, blends,
missed and extra sources, new bands), with its column map and band registry, to add by position."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nepagn.errors import InputError, NepagnError

NAME = "simulate-survey"
HELP = ("write a simulated new survey of a mock catalogue (own ids, positional scatter, blends, missed and extra "
        "sources, new bands) with its column map and band registry, for `nepagn update --match-radius`")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `nepagn simulate-survey`."""
    from nepagn.simulate.survey import SurveyConfig

    default = SurveyConfig()
    parser.add_argument("mock", type=Path, help="the mock catalogue `nepagn simulate` wrote (Parquet, FITS or CSV)")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="survey file (.parquet, .fits or .csv); PATH's stem .columns.toml and .bands.csv are "
                             "written beside it")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--scatter-arcsec", type=float, default=default.scatter_arcsec, metavar="S",
                        help=f"Gaussian positional scatter per coordinate (default {default.scatter_arcsec})")
    parser.add_argument("--offset-arcsec", type=float, nargs=2, default=default.offset_arcsec,
                        metavar=("EAST", "NORTH"), help="systematic astrometric offset of the survey (default 0 0)")
    parser.add_argument("--missed-fraction", type=float, default=default.missed_fraction, metavar="F",
                        help=f"mock sources the survey does not detect (default {default.missed_fraction})")
    parser.add_argument("--split-fraction", type=float, default=default.split_fraction, metavar="F",
                        help="sources the survey resolves into counterpart + companion "
                             f"(default {default.split_fraction})")
    parser.add_argument("--blend-arcsec", type=float, default=default.blend_arcsec, metavar="S",
                        help=f"mock sources closer than this are one survey source (default {default.blend_arcsec})")
    parser.add_argument("--extra-fraction", type=float, default=default.extra_fraction, metavar="F",
                        help=f"survey sources with no counterpart in the mock (default {default.extra_fraction})")
    parser.add_argument("--label-fraction", type=float, default=default.label_fraction, metavar="F",
                        help=f"AGN/SFG given a spectroscopic class (default {default.label_fraction})")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def read_mock(path: Path):
    """The columns of a mock catalogue the survey needs (id, position, photometry, truth), numbers as numbers."""
    import pandas as pd

    from nepagn.bands import load_registry
    from nepagn.readers import input_columns, plan_chunks, read_chunk
    from nepagn.schema import DEC, RA, SOURCE_ID, TRUE_CLASS

    if not path.exists():
        raise InputError(path, "mock catalogue not found")
    available = input_columns(path)
    missing = [name for name in (SOURCE_ID, RA, DEC) if name not in available]
    if missing:
        raise InputError(path, f"not a mock catalogue of `nepagn simulate`: no column(s) {missing}", column=missing[0])
    bands = [band.mag_column for band in load_registry() if band.mag_column in available]
    columns = [SOURCE_ID, RA, DEC] + ([TRUE_CLASS] if TRUE_CLASS in available else []) + bands
    frame = pd.concat([read_chunk(chunk, columns) for chunk in plan_chunks(path)], ignore_index=True)
    for name in [RA, DEC] + bands:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame


def run(args: argparse.Namespace) -> int:
    """Simulate the survey and write it, its column map and its band registry."""
    from nepagn.files import write_text_atomic
    from nepagn.simulate.survey import (
        SURVEY_NAME,
        SurveyConfig,
        column_map_text,
        companion_paths,
        registry_text,
        simulate_survey,
    )
    from nepagn.simulate.writer import output_format, write_catalogue

    if args.seed < 0:
        raise NepagnError(f"--seed must be >= 0, got {args.seed}")
    output_format(args.out)
    config = SurveyConfig(scatter_arcsec=args.scatter_arcsec, offset_arcsec=tuple(args.offset_arcsec),
                          missed_fraction=args.missed_fraction, split_fraction=args.split_fraction,
                          blend_arcsec=args.blend_arcsec, extra_fraction=args.extra_fraction,
                          label_fraction=args.label_fraction)
    config.check()
    columns_path, bands_path = companion_paths(args.out)
    for path in (args.out, columns_path, bands_path):
        if path.exists() and not args.overwrite:
            raise NepagnError(f"{path}: exists; pass --overwrite to replace it")
    survey = simulate_survey(read_mock(args.mock), config, args.seed)
    write_catalogue(survey, args.out)
    write_text_atomic(columns_path, column_map_text(config, SURVEY_NAME))
    write_text_atomic(bands_path, registry_text(config))
    kinds = survey["TRUE_KIND"].value_counts().to_dict()
    print(f"wrote {len(survey)} survey sources to {args.out} ({json.dumps(kinds)}), column map {columns_path}, "
          f"band registry {bands_path}")
    print(f"add it by position: nepagn update --store STORE --catalogue OUTDIR --add {args.out} --columns "
          f"{columns_path} --band-registry {bands_path} --match-radius {max(1.0, 5 * config.scatter_arcsec):g}")
    return 0
