"""Add a new survey to a store by position (`nepagn update --match-radius`).

options (what the user asked: survey, radius, offset, what to do with unmatched sources) -> pairs (LSDB
crossmatch of the store against the survey, HEALPix-aligned, with the survey's margin cache, on the Dask
cluster: every stored/survey pair within the radius) -> assign (the stated rule: closest pairs first, each
source in at most one match; counts of ambiguous cases) -> rows (the survey rows re-keyed to stored
source_ids, or to new ids for appended sources, and the per-source match table) -> the ordinary update
machinery (nepagn.update). quality scores a match against a simulated survey's truth. docs/update.md is
the user guide.
"""
