"""`nepagn export`: a store as one FITS table (TOPCAT/STILTS) or one VOParquet file, with units."""

from __future__ import annotations

import argparse
from pathlib import Path

from nepagn.export import export_store

NAME = "export"
HELP = "export a store as one FITS or single-file VOParquet table with units, UCDs and descriptions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="HATS store folder (from `nepagn ingest` or `build-catalogue`)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="output file: .fits or .parquet")
    parser.add_argument("--select", metavar="COLS", help="comma-separated columns to export (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    columns = [name.strip() for name in args.select.split(",")] if args.select else None
    path = export_store(args.store, args.out, columns=columns, overwrite=args.overwrite, progress=True)
    print(f"wrote {path}")
    return 0
