"""Ray dashboard metrics from the restore stage: images done, errors by type, seconds per image.

Metrics exist only inside a Ray worker; called without Ray (unit tests) every method is a no-op.
"""

from __future__ import annotations

from .rows import STATUS_OK

# Seconds per image on a GPU are ~1–60 s for 100 steps at 256², minutes on a CPU.
SECONDS_BOUNDARIES = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800]


class StageMetrics:
    def __init__(self) -> None:
        import ray

        self.enabled = ray.is_initialized()
        if not self.enabled:
            return
        from ray.util.metrics import Counter, Histogram

        self.done = Counter("ddnm_images_restored", description="Images restored with status ok.")
        self.errors = Counter(
            "ddnm_row_errors", description="Rows that failed, by error type.", tag_keys=("error_type",)
        )
        self.seconds = Histogram(
            "ddnm_restore_seconds_per_image",
            description="Restore-stage seconds per image (batched calls divided evenly).",
            boundaries=SECONDS_BOUNDARIES,
        )

    def record(self, rows: list[dict]) -> None:
        if not self.enabled:
            return
        for row in rows:
            if row["status"] == STATUS_OK:
                self.done.inc()
                self.seconds.observe(float(row["restore_s"]))
            else:
                self.errors.inc(tags={"error_type": row["error_type"] or "unknown"})
