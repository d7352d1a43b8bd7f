"""ddnm-batch pipeline: manifests in, restored PNGs and Parquet provenance out, on Ray Data.

Only this package touches files, object stores, Pillow and Ray; the maths lives in ``ddnm/``.
"""
