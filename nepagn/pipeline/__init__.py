"""The build-catalogue pipeline: per-partition preprocessing and inference on Dask, merge, outputs, provenance."""
