"""`nepagn update`: add new survey data (sources, measurements, bands, labels) to a store and its catalogue,
recomputing only what changed, as a new catalogue version; list or prune versions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nepagn.cluster import add_cluster_arguments
from nepagn.errors import NepagnError

NAME = "update"
HELP = ("apply new sources, updated measurements, new bands or new labels to a store and write the next "
        "catalogue version, recomputing only the partitions that changed; --list / --prune manage versions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Store, catalogue, update file, models, version management and cluster options."""
    parser.add_argument("--store", metavar="STORE", required=True, help="the HATS store the catalogue was built from")
    parser.add_argument("--catalogue", metavar="OUTDIR", required=True,
                        help="output folder of `nepagn build-catalogue`; versions are added inside it")
    parser.add_argument("--add", metavar="FILE", help="update file (FITS, Parquet, CSV, VOTable): new sources, "
                        "new measurements of stored sources (same source_id), new bands or new labels")
    parser.add_argument("--columns", metavar="MAP", help="column map TOML of --add (or a shipped map name)")
    parser.add_argument("--models", metavar="MODELDIR",
                        help="model set to classify with (default: the one the current version used)")
    parser.add_argument("--retrain", action="store_true",
                        help="when the labelled set differs from the models', retrain them like the current set")
    parser.add_argument("--max-epochs", type=int, metavar="N", help="with --retrain: cap on training epochs")
    parser.add_argument("--band-registry", metavar="FILE",
                        help="registry rows (CSV like catalogs/bands_nepw.csv) of bands --add brings that are not "
                             "registered yet")
    parser.add_argument("--quarantine", metavar="FILE", help="write rows of --add that fail validation here "
                        "instead of stopping")
    match = parser.add_argument_group("adding a survey by position (docs/update.md)")
    match.add_argument("--match-radius", type=float, metavar="ARCSEC",
                       help="match --add's sources to stored sources by position within ARCSEC (LSDB crossmatch) "
                            "instead of by source_id; the file keeps its own ids")
    match.add_argument("--survey", metavar="NAME",
                       help="with --match-radius: the survey's name, prefix of its columns NAME_id, "
                            "NAME_sep_arcsec, NAME_n_candidates (default: the column map's name)")
    match.add_argument("--unmatched", choices=("drop", "append"), default=None,
                       help="with --match-radius: survey sources with no stored source within the radius are "
                            "left out (drop, the default) or added as new rows flagged origin_survey=NAME (append)")
    match.add_argument("--astrometric-offset", type=float, nargs=2, metavar=("EAST", "NORTH"),
                       help="with --match-radius: the survey's systematic offset from the store in arcsec "
                            "(survey minus store, east and north), removed before matching")
    parser.add_argument("--list", action="store_true", help="list the catalogue versions and exit")
    parser.add_argument("--prune", action="store_true",
                        help="remove old catalogue versions (all but the --keep newest) and exit")
    parser.add_argument("--keep", type=int, default=1, metavar="N", help="with --prune: versions to keep (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_cluster_arguments(parser)


def check_store_and_catalogue(store: Path, out_dir: Path) -> None:
    """NepagnError unless STORE is a complete store and OUTDIR a build-catalogue output (or versions of one)."""
    from nepagn.store import open_store
    from nepagn.update import versions

    open_store(store)
    if not out_dir.is_dir():
        raise NepagnError(f"{out_dir}: no catalogue there (not a folder); build one with "
                          f"`nepagn build-catalogue --store {store} --out {out_dir}`")
    if versions.load_index(out_dir) is None and not (out_dir / "provenance.json").is_file():
        raise NepagnError(f"{out_dir}: no complete catalogue there (no provenance.json and no {versions.INDEX}); "
                          f"build one with `nepagn build-catalogue --store {store} --out {out_dir}`")


def run(args: argparse.Namespace) -> int:
    """Check STORE and OUTDIR, then list, prune, or (holding both locks) apply one update."""
    from nepagn.update import versions

    out_dir = Path(args.catalogue)
    check_store_and_catalogue(Path(args.store), out_dir)
    if args.list:
        index = versions.load_index(out_dir)
        if index is None:
            print(f"{out_dir}: one version (the build-catalogue output); no updates applied yet")
            return 0
        for entry in index["versions"]:
            state = "pruned" if entry.get("pruned") else ("current" if entry["version"] == index["current"] else "kept")
            inputs = ", ".join(i["input_id"] for i in entry.get("inputs", []))
            print(f"v{entry['version']:04d} {state:8s} {entry['run_id']} {entry.get('created_utc')} {inputs}")
        return 0
    if not args.prune and (not args.add or not args.columns):
        raise NepagnError("--add FILE and --columns MAP are required (or use --list / --prune)")
    match_options(args)  # checked before any lock is taken or any data read
    with _locked(args, out_dir):
        if args.prune:
            from nepagn.update.run import prune_versions

            removed = prune_versions(out_dir, args.keep, args.store)
            print(f"pruned versions {removed or 'none'} of {out_dir}")
            return 0
        result = _apply(args, out_dir)
    print(result.summary())
    if result.created and not args.quiet:
        print(json.dumps({"version": result.version, "computed": result.computed}, default=list))
    return 0


def match_options(args: argparse.Namespace):
    """The position-match options of the command line (None without --match-radius); NepagnError when they
    are given without --match-radius or cannot work."""
    from nepagn.crossmatch.options import MatchOptions

    if args.match_radius is None:
        given = [flag for flag, value in (("--survey", args.survey), ("--unmatched", args.unmatched),
                                          ("--astrometric-offset", args.astrometric_offset)) if value is not None]
        if given:
            raise NepagnError(f"{', '.join(given)} only apply to a match by position: add --match-radius ARCSEC")
        return None
    options = MatchOptions(args.match_radius, args.survey, args.unmatched or "drop",
                           tuple(args.astrometric_offset or (0.0, 0.0)))
    options.check()
    if options.survey is None and args.columns:
        options = options.with_survey(_map_name(args.columns))
    return options


def _map_name(value: str) -> str:
    """The `name` a column map gives (its file name without .toml by default), read without checking its bands."""
    import tomllib

    from nepagn.columnmap import resolve_column_map
    from nepagn.errors import InputError

    path = resolve_column_map(value)
    try:
        return str(tomllib.loads(path.read_text()).get("name", path.stem))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path, f"not a readable column map: {exc}") from exc


def _locked(args: argparse.Namespace, out_dir: Path):
    """Both locks an update holds: OUTDIR's (shared with build-catalogue) and the store's (beside it)."""
    from contextlib import ExitStack

    from nepagn.locks import LOCK_NAME, exclusive_lock, lock_path_beside

    stack = ExitStack()
    try:
        stack.enter_context(exclusive_lock(out_dir / LOCK_NAME, f"{out_dir} (--catalogue)", args.command_line))
        stack.enter_context(exclusive_lock(lock_path_beside(args.store), f"{args.store} (--store)",
                                           args.command_line))
    except BaseException:
        stack.close()
        raise
    return stack


def _apply(args: argparse.Namespace, out_dir: Path):
    """One update on the cluster."""
    from nepagn.cluster import client_from_args, import_tensorflow_quietly
    from nepagn.columnmap import resolve_column_map
    from nepagn.update.run import update_catalogue

    if not Path(args.add).exists():
        from nepagn.errors import InputError

        raise InputError(args.add, "update file not found (--add)")
    columns = resolve_column_map(args.columns)
    if args.models:  # checked before the store is staged, not after
        from nepagn.model.manifest import Manifest

        Manifest.read(args.models)
    if args.band_registry and not Path(args.band_registry).is_file():
        raise NepagnError(f"{args.band_registry}: band registry file not found (--band-registry)")
    if args.retrain:  # a retrained model set is written from this process
        import_tensorflow_quietly()
    with client_from_args(args, tensorflow=True) as client:
        return update_catalogue(args.store, out_dir, args.add, columns, client, models=args.models,
                                retrain=args.retrain, band_registry=args.band_registry, quarantine=args.quarantine,
                                max_epochs=args.max_epochs, progress=not args.quiet, match=match_options(args))


def resume_hint(args: argparse.Namespace) -> str:
    """What a stopped update leaves (printed by the CLI after Ctrl-C, SIGTERM or a full disk)."""
    return (f"nothing was committed: the current catalogue version in {args.catalogue} and the store "
            f"{args.store} are unchanged (leftovers are cleaned by the next update); rerun the same command")
