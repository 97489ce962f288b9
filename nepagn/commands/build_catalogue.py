"""`nepagn build-catalogue`: the main job, from an input catalogue to the public AGN/SFG catalogue.

Every argument is checked before any heavy work (simulating, ingesting, training, starting a
cluster): a missing model set, an unreadable input, a column map that does not fit the input or an
unwritable --out is a one-line error at once. The command then holds OUTDIR's lock (nepagn.locks) to
its end, so a second build or update of the same OUTDIR stops instead of racing it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from nepagn.cluster import add_cluster_arguments
from nepagn.errors import InputError, NepagnError

NAME = "build-catalogue"
HELP = ("classify every source of a catalogue as AGN or SFG with Models A, B, C on Dask and write the public "
        "catalogue (HATS, Parquet, FITS, summary, figures); with no arguments, on the default mock")
DEFAULT_OUT = "nepagn-output/catalogue"
DONE_RECORDS = Path(".build") / "done"  # nepagn.pipeline.build.DONE_DIR, named here without importing the pipeline

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, models, output and cluster options."""
    source = parser.add_argument_group("input (default: simulate the mock NEP-Wide catalogue of configs/pipeline.toml)")
    choice = source.add_mutually_exclusive_group()
    choice.add_argument("--input", metavar="FILE",
                        help="input catalogue (FITS, Parquet, CSV, VOTable); needs --columns")
    choice.add_argument("--store", metavar="STORE", help="an ingested HATS store (`nepagn ingest`)")
    source.add_argument("--columns", metavar="MAP",
                        help="column map of --input: a TOML file or a shipped map name (mock, poliszczuk2021)")
    source.add_argument("--quarantine", metavar="FILE",
                        help="with --input: write rows that fail validation here instead of stopping")
    parser.add_argument("--models", metavar="MODELDIR",
                        help="trained model set (`nepagn train`); default: train Models A, B, C quickly "
                             "with the [quick_training] settings (not the paper's protocol)")
    parser.add_argument("--out", metavar="OUTDIR", default=DEFAULT_OUT,
                        help="output folder (default: %(default)s); rerunning resumes an interrupted build")
    parser.add_argument("--config", metavar="TOML", help="overrides of configs/pipeline.toml (any subset of its keys)")
    parser.add_argument("--star-rule", choices=("chi2", "none"),
                        help="star removal: chi2 (chi2_gal > chi2_star => star) or none (default: from the config)")
    parser.add_argument("--redshift-rule", choices=("required", "none"),
                        help="required (the paper's sample: sources with neither z_spec nor z_phot are not "
                             "classified) or none (classify them too: the networks do not use redshift; for "
                             "catalogues without redshifts) (default: from the config, required)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary on the terminal")
    add_cluster_arguments(parser)


def check_writable_dir(path: Path, option: str) -> None:
    """Create `path` if needed and prove a file can be written in it; NepagnError naming the option if not.

    Checked by writing, not with os.access: a root user passes os.access everywhere, a read-only
    mount or an exhausted quota does not show there.
    """
    import tempfile

    if path.exists() and not path.is_dir():
        raise NepagnError(f"{path}: {option} must be a folder, and this is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".nepagn-write-test-"):
            pass
    except OSError as exc:
        raise NepagnError(f"{path}: {option} is not writable ({exc.strerror or exc}); choose a folder you can "
                          "write (nothing was started)") from exc


def validate_arguments(args: argparse.Namespace) -> None:
    """Every check that needs no heavy work, before simulating, ingesting, training or starting a cluster.

    Resolves args.columns to the column map's path (a shipped name such as `mock` is accepted).
    """
    from nepagn.columnmap import ColumnMap, resolve_column_map
    from nepagn.readers import input_columns

    if args.columns and not args.input:
        raise NepagnError("--columns goes with --input")
    if args.input and not args.columns:
        raise NepagnError(f"{args.input}: --input needs --columns MAP (a column map TOML, see catalogs/columns/)")
    if args.quarantine and not args.input:
        raise NepagnError("--quarantine goes with --input (a store or the default mock is already validated)")
    for option in ("workers", "threads_per_worker"):
        value = getattr(args, option, None)
        if value is not None and value < 1:
            raise NepagnError(f"--{option.replace('_', '-')} must be at least 1, got {value}")
    if args.input:
        path = Path(args.input)
        if not path.exists():
            raise InputError(path, "input not found (--input)")
        args.columns = str(resolve_column_map(args.columns))
        cmap = ColumnMap.load(args.columns)
        cmap.check_columns(input_columns(path), path)
    if args.store:
        from nepagn.store import open_store

        open_store(args.store)
    if args.models:
        from nepagn.model.manifest import Manifest

        Manifest.read(args.models)
    check_writable_dir(Path(args.out), "--out")
    if args.quarantine:
        check_writable_dir(Path(args.quarantine).resolve().parent, "the folder of --quarantine")


def run(args: argparse.Namespace) -> int:
    """Check the arguments, then (holding OUTDIR's lock) prepare input and models and build the catalogue."""
    from nepagn.locks import LOCK_NAME, exclusive_lock
    from nepagn.pipeline.config import load_pipeline_config
    from nepagn.pipeline.provenance import utc_now

    started = utc_now()
    config = load_pipeline_config(args.config)
    validate_arguments(args)
    preprocess = config.preprocess
    rules = {key: value for key, value in (("star_rule", args.star_rule), ("redshift_rule", args.redshift_rule))
             if value}
    if rules:
        preprocess = type(preprocess)(**{**preprocess.to_dict(), **rules})
    out_dir = Path(args.out)
    with exclusive_lock(out_dir / LOCK_NAME, f"{out_dir} (--out)", args.command_line):
        result = _build(args, config, preprocess, out_dir, started)
    if not args.quiet:
        from nepagn.pipeline.summary import to_text

        print(to_text(result.summary))
        print()
    recomputed = f"{len(result.computed)} partitions computed, {len(result.reused)} reused"
    print(f"catalogue written to {result.out_dir} ({result.run_id}; {recomputed}):")
    for path in (result.catalogue_dir, result.parquet, result.fits, result.out_dir / "summary.md",
                 result.out_dir / "figures", result.out_dir / "provenance.json"):
        print(f"  {path}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


def _build(args: argparse.Namespace, config, preprocess, out_dir: Path, started: str):
    """Input, models and the build itself, on the cluster."""
    from typing import Any

    from nepagn.cluster import client_from_args, import_tensorflow_quietly
    from nepagn.pipeline.build import build_catalogue
    from nepagn.pipeline.inputs import prepare_models, prepare_store

    progress = not args.quiet
    # Loading TensorFlow takes seconds in every process: this one loads it while the workers simulate the mock (the
    # quick training writes its model set from here), the workers while this one reads the target photometry
    # (prepare_models); tasks that need it and find it not loaded load it themselves.
    with client_from_args(args) as client:
        say = _say_fn(args.quiet)
        store_path, input_provenance = prepare_store(config, out_dir, client, progress, say, store=args.store,
                                                     input_path=args.input, columns_path=args.columns,
                                                     quarantine=getattr(args, "quarantine", None),
                                                     meanwhile=None if args.models else import_tensorflow_quietly)
        modeldir, model_provenance = prepare_models(config, store_path, out_dir, client, progress, say,
                                                    models=args.models)
        extra: dict[str, Any] = {
            "input": input_provenance["input"],
            "column_map": input_provenance.get("column_map"),
            "models": model_provenance,
            "configs": {"pipeline.toml": config.values, "override": str(args.config) if args.config else None},
            "command": args.command_line,
        }
        return build_catalogue(store_path, modeldir, out_dir, client, preprocess_config=preprocess,
                               catalogue_name=config.catalogue_name, provenance_extra=extra, progress=progress,
                               started_utc=started, summary_band=config.summary_band)


def resume_hint(args: argparse.Namespace) -> str:
    """What an interrupted or failed build leaves in OUTDIR, and how to go on (printed by the CLI)."""
    out = Path(args.out)
    done = len(list((out / DONE_RECORDS).glob("*.json"))) if (out / DONE_RECORDS).is_dir() else 0
    return (f"{done} classified partition(s) and the inputs and models prepared so far are kept in {out}; "
            "nothing there reads as a complete catalogue (provenance.json is written last); "
            "rerun the same command to resume (finished partitions are reused)")


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _say_fn(quiet: bool):
    return lambda message: _say(message, quiet)
