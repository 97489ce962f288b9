"""`nepagn simulate`: write a mock NEP-Wide catalogue (Parquet, FITS or CSV), streamed chunk by chunk."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from nepagn.errors import NepagnError
from nepagn.simulate import catalogue, write_catalogue
from nepagn.simulate.writer import output_format

NAME = "simulate"
HELP = "write a realistic mock AKARI NEP-Wide catalogue (Parquet, FITS or CSV by extension)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `nepagn simulate`."""
    parser.add_argument("--n-sources", type=int, default=catalogue.PAPER_N_SOURCES, metavar="N",
                        help="number of sources; sample sizes scale with the paper's fractions (default 91861)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the catalogue is deterministic per seed")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="output file: .parquet (VOParquet metadata), .fits or .csv")
    parser.add_argument("--chunk-rows", type=int, default=catalogue.BLOCK_ROWS, metavar="N",
                        help=f"rows per written chunk; memory stays bounded by max(N, {catalogue.BLOCK_ROWS}) rows")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--figures", type=Path, metavar="DIR",
                        help="also draw the figures that show what the mock looks like (docs/mock.md) into DIR")


def run(args: argparse.Namespace) -> int:
    """Simulate and write the catalogue; returns 0 on success."""
    if args.n_sources < 1:
        raise NepagnError(f"--n-sources must be at least 1, got {args.n_sources}")
    if args.chunk_rows < 1:
        raise NepagnError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    if args.seed < 0:
        raise NepagnError(f"--seed must be >= 0, got {args.seed}")
    fmt = output_format(args.out)
    if fmt == "fits" and args.n_sources > 5_000_000:
        log.warning("FITS output is assembled in memory; prefer .parquet for %d sources", args.n_sources)
    chunks = catalogue.iter_catalogue_chunks(args.n_sources, args.seed, args.chunk_rows)
    with tqdm(total=args.n_sources, unit="src", desc="simulate", disable=args.no_progress) as progress:
        def counted():
            for chunk in chunks:
                yield chunk
                progress.update(len(chunk))

        rows = write_catalogue(counted(), args.out)
    log.info("wrote %d sources to %s", rows, args.out)
    if args.figures:
        from nepagn.report.mock_figures import make_figures

        for path in make_figures(args.figures, args.n_sources, args.seed):
            print(f"wrote {path}")
    return 0
