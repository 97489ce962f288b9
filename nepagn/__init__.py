"""nepagn: AGN / star-forming-galaxy classification of multi-band catalogues with the
deep neural network of Chen et al. 2021 (MNRAS 501, 3951), at survey scale on Dask."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nepagn")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
