"""The mock AKARI NEP-Wide catalogue: physically built SEDs, survey coverage, depth-limited observation.

simulate_catalogue() returns a whole catalogue, iter_catalogue_chunks() streams it with bounded memory,
write_catalogue() writes either to Parquet, FITS or CSV. docs/mock.md describes the model.
"""

from nepagn.simulate.catalogue import group_counts, iter_catalogue_chunks, simulate_catalogue
from nepagn.simulate.writer import write_catalogue

__all__ = ["group_counts", "iter_catalogue_chunks", "simulate_catalogue", "write_catalogue"]
