"""`nepagn update`: bring a store and its public catalogue up to date with new survey data, incrementally.

inputs (read and validate the update file) -> plan (which rows are new, changed, unchanged; where they
go) -> apply_sources (a staged copy of the store: touched partitions rewritten or split, the rest
hard-linked) -> catalogue (a new catalogue version: stale partitions re-inferred with the pipeline's
per-partition task, the rest reused) -> versions (commit, list, prune). docs/update.md is the user guide.
"""
