"""`nepagn evaluate EXPERIMENT`: the evaluation experiments of nepagn.evaluation, one sub-subcommand each.

real-sample and mock write EVALDIRs (the MODELDIR schema, read by `nepagn report`); transfer writes
results.csv, summary.csv and run.json; ceiling writes one JSON file; restarts scores a MODELDIR's networks
into one CSV. The options are defined here only; each experiment module runs from the parsed arguments
(`run_from_args`), imported by run(), so `nepagn evaluate --help` and usage errors load neither TensorFlow,
scikit-learn nor Dask.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from nepagn.cluster import add_cluster_arguments
from nepagn.evaluation.real_sample import BAND_SETS

NAME = "evaluate"
HELP = ("run an evaluation experiment: strict CV on the real sample or the mock, bright-to-faint transfer, "
        "mock ceiling, restart selection")

def _real_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="training_sample.csv of Poliszczuk et al. 2021")
    parser.add_argument("--bands", choices=sorted(BAND_SETS), default="all")
    parser.add_argument("--models", default="A,B,C,N,HGB", help="comma-separated recipes")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated CV seeds")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap for the paper's Models A, B, C")
    parser.add_argument("--out", required=True, help="EVALDIR to write")
    add_cluster_arguments(parser)


def _mock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", type=int, default=30000, help="mock catalogue size to simulate")
    parser.add_argument("--galaxies", type=int, default=1500, help="AGN+SFG objects evaluated")
    parser.add_argument("--mock-seed", type=int, default=0)
    parser.add_argument("--model", default="N", help="recipe trained on each band set")
    parser.add_argument("--members", type=int, default=1, help="inner-fold ensemble size (overrides the recipe)")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", required=True)
    add_cluster_arguments(parser)


def _transfer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="training_sample.csv of Poliszczuk et al. 2021")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of the magnitude splits")
    parser.add_argument("--classifiers", default="HGBC,A", help="HGBC and/or A, B, C (catalogue recipe)")
    parser.add_argument("--out", required=True, help="folder for results.csv, summary.csv, run.json")
    add_cluster_arguments(parser)


def _ceiling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", type=int, default=91_861)
    parser.add_argument("--seed", type=int, default=0, help="seed of the mock (the default build uses 0)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=30_000)
    parser.add_argument("--out", required=True, help="JSON file to write")


def _restarts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("modeldir", type=Path, help="MODELDIR of `nepagn train --networks N` (N > 1)")
    rows = parser.add_mutually_exclusive_group(required=True)
    rows.add_argument("--data", type=Path, help="the real sample's training_sample.csv, if it was trained on that")
    rows.add_argument("--store", type=Path, help="the store whose labelled rows it was trained on")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write: one row per (model, seed, fold)")


def _match_quality_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="the store a simulated survey was added to by position")
    parser.add_argument("survey_file", type=Path, help="the survey file of `nepagn simulate-survey` (its truth)")
    parser.add_argument("--survey", help="the survey's name in the store (default: nepagn simulate-survey's name)")


EXPERIMENTS = {  # sub-subcommand -> (the module that runs it from the parsed arguments, help, its options)
    "real-sample": ("nepagn.evaluation.real_sample", "repeated strict CV of recipes on the real labelled 14-band "
                    "sample (Poliszczuk et al. 2021); writes an EVALDIR", _real_sample_arguments),
    "mock": ("nepagn.evaluation.mock", "band-group ablation CV of a recipe on mock galaxies by true class, and the "
             "colour cuts on them; writes an EVALDIR", _mock_arguments),
    "transfer": ("nepagn.evaluation.transfer", "bright-to-faint transfer on the real sample: train on the brighter "
                 "two thirds, score the fainter third", _transfer_arguments),
    "ceiling": ("nepagn.evaluation.ceiling", "the ROC AUC a classifier trained on the mock inference set's own true "
                "classes reaches", _ceiling_arguments),
    "restarts": ("nepagn.evaluation.restarts", "several networks per fold: their mean against one of them kept by "
                 "its inner rows (the paper's repeated runs, best kept), scored on the outer folds",
                 _restarts_arguments),
    "match-quality": ("nepagn.crossmatch.quality", "how well a position match recovered a simulated survey's truth: "
                      "completeness and false-match rate, as JSON", _match_quality_arguments),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-subparser per experiment (`nepagn evaluate real-sample ...`), each with its own options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of `nepagn evaluate`.
    """
    experiments = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for name, (_, text, add) in EXPERIMENTS.items():
        add(experiments.add_parser(name, help=text, description=text))


def run(args: argparse.Namespace) -> int:
    """Run the chosen experiment and print its summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options; `experiment` names the sub-subcommand.

    Returns
    -------
    int
        0: the experiment ran and wrote its outputs.
    """
    print(importlib.import_module(EXPERIMENTS[args.experiment][0]).run_from_args(args))
    return 0
