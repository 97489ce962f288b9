"""The public API in nepagn/__init__.py: light to import, every advertised name there, and usable as documented."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import nepagn


def test_import_nepagn_loads_no_heavy_library():
    code = ("import sys, nepagn; print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'distributed', 'dask')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_public_name_resolves_and_is_documented():
    for name in nepagn.__all__:
        value = getattr(nepagn, name)
        assert name == "__version__" or (value.__doc__ or "").strip(), name
    assert sorted(nepagn.__all__) == dir(nepagn)


def test_documented_model_set_calls_on_a_store(tiny_mock_store, tiny_model_set):
    rows = nepagn.open_store(tiny_mock_store).to_dask().compute(scheduler="synchronous").head(300)
    models = nepagn.ModelSet.load(tiny_model_set)
    probabilities, classes = models.predict_proba(rows), models.predict(rows)
    assert list(classes.index) == list(rows.index)
    for name in models.names:
        assert probabilities[f"p_agn_{name}"].between(0, 1).all()
        assert classes[f"is_agn_{name}"].dtype == bool
    np.testing.assert_allclose(classes["p_agn_mean"],
                               probabilities[[f"p_agn_{n}" for n in models.names]].mean(axis=1))
