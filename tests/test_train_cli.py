"""`nepagn train` end to end on a tiny canonical file and on the real sample through its column map.

The commands run on the session's LocalCluster (`--scheduler`), as they would on a survey team's cluster."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nepagn.cli import main
from nepagn.model.baseline import BASELINE_MODEL
from nepagn.simulate import simulate_catalogue

BANDS = "hsc_g,hsc_i,akari_n2,akari_n4,akari_s11"


@pytest.fixture(scope="module")
def canonical_parquet(tmp_path_factory):
    catalogue = simulate_catalogue(6000, seed=11)
    path = tmp_path_factory.mktemp("cli") / "mock.parquet"
    catalogue.to_parquet(path, index=False)
    return path


def test_train_cli_end_to_end(canonical_parquet, dask_client, tmp_path, capsys):
    out = tmp_path / "modeldir"
    status = main(
        [
            "train",
            "--input",
            str(canonical_parquet),
            "--models",
            "A,B",
            "--folds",
            "2",
            "--seeds",
            "1",
            "--max-epochs",
            "2",
            "--bands",
            BANDS,
            "--scheduler",
            dask_client.scheduler.address,
            "--out",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "fold-ensemble" in printed and "| A |" in printed and f"| {BASELINE_MODEL} |" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"] == ["A", "B"] and manifest["bands"] == BANDS.split(",")
    domain = json.loads((out / "domain.json").read_text())
    assert "domain.json" in manifest["file_hashes"] and [b["id"] for b in domain["bands"]] == BANDS.split(",")
    assert domain["n_labelled"] == len(pd.read_parquet(out / "labels.parquet"))
    run = json.loads((out / "run.json").read_text())
    assert run["command"].startswith("nepagn train --input ") and run["command"].endswith(f"--out {out}")
    oof = pd.read_parquet(out / "oof_predictions.parquet")
    labelled = pd.read_parquet(canonical_parquet, columns=["source_id", "label"]).dropna()
    assert len(oof) == 2 * len(labelled)


def test_train_cli_refuses_to_overwrite(canonical_parquet, tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    status = main(["train", "--input", str(canonical_parquet), "--out", str(out), "--max-epochs", "1"])
    assert status == 2
    assert "already exists" in capsys.readouterr().err


def test_train_cli_checks_seeds_before_reading_anything(tmp_path, capsys):
    """`--seeds 0` is a count of none: refused before the input is read or a cluster starts, with the way to
    write seed 0 alone."""
    status = main(["train", "--input", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "m"), "--seeds", "0"])
    assert status == 2
    err = capsys.readouterr().err
    assert "--seeds: need at least one seed, not 0" in err and "`--seeds 0,`" in err and "absent.csv" not in err


def test_train_cli_names_a_missing_label_column(dask_client, tmp_path, capsys):
    path = tmp_path / "nolabel.csv"
    pd.DataFrame({"source_id": ["a", "b"], "hsc_g_mag": [20.0, 21.0], "hsc_g_magerr": [0.1, 0.1]}).to_csv(path)
    status = main(
        ["train", "--input", str(path), "--out", str(tmp_path / "m"), "--scheduler", dask_client.scheduler.address]
    )
    assert status == 2
    assert "'label'" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_train_cli_on_the_real_sample_with_its_shipped_column_map_name(poliszczuk_csv, dask_client, tmp_path):
    """--columns takes a shipped map's name (as ingest and update do), not only a path."""
    out = tmp_path / "real"
    status = main(
        [
            "train",
            "--input",
            str(poliszczuk_csv),
            "--columns",
            "poliszczuk2021",
            "--models",
            "A",
            "--folds",
            "2",
            "--max-epochs",
            "1",
            "--scheduler",
            dask_client.scheduler.address,
            "--out",
            str(out),
        ]
    )
    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["bands"]) == 14
    labels = pd.read_parquet(out / "labels.parquet")
    assert len(labels) == 1547 and int(labels["y_true"].sum()) == 199
