"""nepagn: AGN / star-forming-galaxy classification of multi-band catalogues with the
deep neural network of Chen et al. 2021 (MNRAS 501, 3951), at survey scale on Dask.

The public API, for notebooks and scripts (the `nepagn` command runs the same functions)::

    import nepagn
    from distributed import Client
    from nepagn.resources import catalogs_dir

    nepagn.simulate_catalogue(n_sources=20_000, seed=0).to_parquet("mock.parquet")  # or your own catalogue
    columns = nepagn.ColumnMap.load(catalogs_dir() / "columns" / "mock.toml")     # its column map
    nepagn.ingest("mock.parquet", columns, "store")                                # -> a HATS store
    store = nepagn.open_store("store")
    with Client() as client:
        rows = store.to_dask().compute()
        modeldir = nepagn.train_model_set(rows[rows["label"].notna()], "models", client=client)
        result = nepagn.build_catalogue("store", modeldir, "out", client)
    models = nepagn.ModelSet.load(modeldir)
    models.predict_proba(rows)     # p_agn_<m>, score_agn_<m>, score_agn_<m>_std per model
    models.predict(rows)           # is_agn_<m>, p_agn_mean and the named subsets, by the set's own rule

    # one recipe as a scikit-learn estimator, fitted under the strict protocol (sklearn's CV and calibration)
    from sklearn.model_selection import cross_val_score
    labelled = rows[rows["label"].notna()]
    cross_val_score(nepagn.RecipeClassifier("HGBC"), labelled, labelled["label"] == "AGN", scoring="roc_auc")

Names are imported on first use, so `import nepagn` stays light (no TensorFlow, Dask or scikit-learn).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("nepagn")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

#: public name -> module that defines it
_PUBLIC = {
    "ColumnMap": "nepagn.columnmap",
    "ingest": "nepagn.ingest",
    "open_store": "nepagn.store",
    "Store": "nepagn.store",
    "simulate_catalogue": "nepagn.simulate.catalogue",
    "train_model_set": "nepagn.model.training",
    "ModelSet": "nepagn.model.inference",
    "Manifest": "nepagn.model.manifest",
    "RecipeClassifier": "nepagn.model.estimator",
    "build_catalogue": "nepagn.pipeline.build",
    "update_catalogue": "nepagn.update.run",
    "export_store": "nepagn.export",
    "NepagnError": "nepagn.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'nepagn' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
