"""`nepagn ingest`: any catalogue (FITS / Parquet / CSV / VOTable) into a HATS store, through a column map."""

from __future__ import annotations

import argparse
from pathlib import Path

from nepagn.cluster import add_cluster_arguments, client_from_args
from nepagn.columnmap import ColumnMap, resolve_column_map
from nepagn.ingest import CHUNK_ROWS, DEFAULT_MAX_ROWS, check_output, ingest

NAME = "ingest"
HELP = "ingest a catalogue into a HEALPix-partitioned HATS Parquet store (LSDB, pandas, TOPCAT read it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="input catalogue: .fits, .parquet (file or folder), .csv or .vot/.xml")
    parser.add_argument(
        "--columns",
        required=True,
        metavar="MAP",
        help="column map: a TOML file or a shipped map name (mock, poliszczuk2021)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="STORE", help="output HATS store folder")
    parser.add_argument(
        "--max-rows-per-partition",
        type=int,
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help=f"no HEALPix partition holds more rows than this (default {DEFAULT_MAX_ROWS})",
    )
    parser.add_argument(
        "--quarantine",
        type=Path,
        metavar="FILE",
        help="write rows that fail validation here (.csv or .parquet) with a reason, instead of failing",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")
    parser.add_argument("--name", help="catalogue name in the store's properties (default: the map's name)")
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, metavar="N", help=f"rows per read task (default {CHUNK_ROWS})"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run in this process without a Dask cluster (small inputs)"
    )
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cmap = ColumnMap.load(resolve_column_map(args.columns))
    check_output(args.out, args.overwrite)  # before starting a cluster
    options = dict(
        quarantine_path=args.quarantine,
        overwrite=args.overwrite,
        catalog_name=args.name,
        chunk_rows=args.chunk_rows,
        progress=True,
    )
    if args.in_process:
        report = ingest(args.input, cmap, args.out, args.max_rows_per_partition, **options)
    else:
        with client_from_args(args) as client:
            report = ingest(args.input, cmap, args.out, args.max_rows_per_partition, client=client, **options)
    print(report.summary())
    return 0
