"""Ray job entrypoints (``python -m pipeline.entrypoints.run_job``, ``... .scan_then_run``): run on the cluster.

They live with the pipeline they run (``jobs/`` holds the prior's training, which the CLI imports; entrypoints there
made ``pipeline`` and ``jobs`` import each other, issue 17).
"""
