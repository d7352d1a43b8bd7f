"""The archivist's review report of a run: ``build_report(ReportSettings(out_uri))`` → ``OUT/report/index.html``.

Restoration invents content in the null space of the degradation; the report shows, per row, the
before/after images, the consistency residual and a heat map of the departure from A⁺y (what the
model invented), and lets reviewers record accept/reject decisions and export them as CSV.
"""

from .build import ReportResult, build_report
from .settings import ReportSettings

__all__ = ["ReportResult", "ReportSettings", "build_report"]
