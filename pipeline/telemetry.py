"""Ray dashboard metrics from the restore stage: images done, errors by type, seconds per image, tiles.

Metrics exist only inside a Ray worker; called without Ray (unit tests) every method is a no-op.
Ray exports them on each node's metrics export port (``ray start --metrics-export-port``) in
Prometheus text, prefixed ``ray_`` and with ``_total`` on counters, e.g.
``ray_ddnm_images_restored_total``; ``infra/grafana/ddnm-batch.json`` charts them.

Tiles: a row may carry ``tiles``, the number of model windows it was restored in (set by a tiled
restore); a row without it counts as one tile. Tiles per second is best read as
``rate(ray_ddnm_tiles_restored_total[5m])``; the gauge holds each actor's latest batch rate.
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
        from ray.util.metrics import Counter, Gauge, Histogram

        self.done = Counter("ddnm_images_restored", description="Images restored with status ok.")
        self.errors = Counter(
            "ddnm_row_errors", description="Rows that failed, by error type.", tag_keys=("error_type",)
        )
        self.seconds = Histogram(
            "ddnm_restore_seconds_per_image",
            description="Restore-stage seconds per image (batched calls divided evenly).",
            boundaries=SECONDS_BOUNDARIES,
        )
        self.tiles = Counter("ddnm_tiles_restored", description="Model windows (tiles) restored in ok rows.")
        self.tiles_per_second = Gauge(
            "ddnm_restore_tiles_per_second", description="Tiles per restore-stage second in this actor's last batch."
        )

    def record(self, rows: list[dict]) -> None:
        if not self.enabled:
            return
        tiles, seconds = 0, 0.0
        for row in rows:
            if row["status"] == STATUS_OK:
                self.done.inc()
                self.seconds.observe(float(row["restore_s"]))
                tiles += tiles_of(row)
                seconds += float(row["restore_s"])
            else:
                self.errors.inc(tags={"error_type": row["error_type"] or "unknown"})
        if tiles:
            self.tiles.inc(tiles)
        if seconds > 0:
            self.tiles_per_second.set(tiles / seconds)


def tiles_of(row: dict) -> int:
    """Model windows a restored row took (1 when it was restored whole)."""
    return max(1, int(row.get("tiles") or 1))
