"""The report's ``index.html``: the summary as plain HTML, the page's CSS and scripts inlined.

Every value from the ledger is HTML-escaped here; the scripts add rows with ``textContent`` only.
The Content-Security-Policy allows no network access at all (no ``connect-src``), so the page
can be opened from ``file://`` or served from a static bucket and never calls out.
"""

from __future__ import annotations

import base64
import json
from html import escape
from importlib import resources

from . import thumbs
from .nullspace import INVENTED_THRESHOLD
from .summary import Summary

SCRIPTS = ("common.js", "decisions.js", "viewer.js", "table.js")  # load order matters
CSP = (
    "default-src 'none'; img-src 'self' file: data: blob:; script-src 'self' file: 'unsafe-inline'; "
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
# (sort key, header) of the rows table; the first column (thumbnail) does not sort.
COLUMNS = (
    ("index", "#"), ("id", "id"), ("op", "operator"), ("status", "status"), ("residual", "residual"),
    ("invented", "invented (mean)"), ("invented_area", "invented area"), ("uncertainty", "spread of samples"),
    ("restore_s", "restore s"),
    ("decision", "decision"),
)  # fmt: skip


def static_text(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def render(out_uri: str, summary: Summary, chunks: list[str], ops: list[str], generated_at: str) -> str:
    config = {
        "out_uri": out_uri,
        "chunks": chunks,
        "total": summary.rows,
        "ops": ops,
        "heat_full_scale": thumbs.HEAT_FULL_SCALE,
        "threshold": INVENTED_THRESHOLD,
        "legend": "data:image/png;base64," + base64.b64encode(thumbs.png(thumbs.legend())).decode("ascii"),
    }
    scripts = "\n".join(f"<script>\n{static_text(name)}\n</script>" for name in SCRIPTS)
    css = static_text("report.css")
    headers = "".join(f'<th data-key="{key}">{escape(label)}</th>' for key, label in COLUMNS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Restoration review – {escape(out_uri)}</title>
<style>
{css}
</style></head>
<body>
<h1>Restoration review</h1>
<p class="muted">Run folder <span class="mono">{escape(out_uri)}</span> · report built {escape(generated_at)}</p>
{_explanation()}
{summary_html(summary)}
<h2>Rows</h2>
<div id="notices" class="error-text"></div>
{_controls()}
<table id="rows"><thead><tr><th></th>{headers}</tr></thead>
<tbody></tbody></table>
<div class="pager"><button type="button" id="prev-page">◀</button><span id="page-label"></span>
<button type="button" id="next-page">▶</button></div>
<dialog id="detail"></dialog>
<script id="report-config" type="application/json">{_json_for_html(config)}</script>
{scripts}
</body></html>
"""


def _explanation() -> str:
    threshold = f"{INVENTED_THRESHOLD:.0%}"
    return f"""<div class="explain"><p>Each restored image is <b>x̂ = A⁺y + (null-space content)</b>:
A⁺y is what the archive image itself determines; the rest was <b>invented by the model</b>. Before publishing,
check the <b>null-space map</b> of each row (click a row): bright areas are where the output departs from A⁺y.
The <b>residual</b> ‖Ax̂ − y‖/‖y‖ should be near 0: the output must agree with the archive image.
<b>invented (mean)</b> is the mean departure as a share of the full range; <b>invented area</b> the share
of pixels departing by more than {threshold}. <b>spread of samples</b> (runs with <span class="mono">--samples K</span>)
is how much K independent restorations disagree, as a share of the range: high where the model was unsure. Mark rows accepted or rejected (kept in this browser) and export
the decisions as CSV; the CSV is a manifest for a re-run:
<span class="mono">ddnm-batch run rejected.csv --out OUT-rerun --seed 1</span>.</p></div>"""


def _select(element_id: str, label: str, options: tuple, selected: str = "") -> str:
    """A labelled ``<select>``; options are ``(value, text)`` pairs or plain values."""
    pairs = [o if isinstance(o, tuple) else (o, o) for o in options]
    items = "".join(f'<option value="{v}"{" selected" if v == selected else ""}>{t}</option>' for v, t in pairs)
    return f'<label>{label} <select id="{element_id}">{items}</select></label>'


def _controls() -> str:
    return "\n".join([
        '<div class="controls">',
        _select("filter-status", "status", (("", "all"), "ok", "error", "skipped")),
        _select("filter-op", "operator", (("", "all"),)),  # options added by the page from the rows
        _select("filter-decision", "decision", (("", "all"), "undecided", "accepted", "rejected")),
        '<label>text <input type="search" id="filter-text" placeholder="id, uri, error, note…"></label>',
        _select("page-size", "per page", ("25", "50", "100", "250"), selected="50"),
        '<button type="button" id="export-decisions">Export decisions (CSV)</button>',
        '<button type="button" id="export-rejected">Export rejected as manifest (CSV)</button>',
        '<span id="count" class="muted"></span></div>',
    ])  # fmt: skip


def summary_html(summary: Summary) -> str:
    cards = [("rows", summary.rows), ("ok", summary.ok), ("error", summary.errors), ("skipped", summary.skipped)]
    worst = f"{summary.residual_max:.1e}" if summary.residual_max is not None else "–"
    parts = [
        "<h2>Summary</h2><div class='cards'>",
        *(f"<div class='card'><b id='count-{escape(k)}'>{v}</b>{escape(k)}</div>" for k, v in cards),
        f"<div class='card'><b>{worst}</b>worst residual</div></div><div class='summary-grid'>",
        _table("Errors by type", ("type", "rows"), summary.errors_by_type.items()),
        _table("Models", ("model", "weights sha256", "restored rows"),
               [(name, sha, count) for (name, sha), count in summary.models.items()]),
        _table("Software", ("ddnm-batch version", "rows"), summary.software_versions.items()),
        _table("Runs", ("run", "rows", "ok", "errors", "started (UTC)", "wall s", "images/s", "model s/image"),
               [_run_cells(r) for r in summary.runs]),
        "</div>",
    ]  # fmt: skip
    return "\n".join(parts)


def _run_cells(run) -> tuple:
    rate = f"{run.images_per_s:.3g}" if run.images_per_s else "–"
    model = f"{run.restore_s_mean:.3g}" if run.restore_s_mean is not None else "–"
    return run.run_id, run.rows, run.ok, run.errors, run.started_at, f"{run.wall_s:.1f}", rate, model


def _table(title: str, headers: tuple, rows) -> str:
    rows = list(rows)
    if not rows:
        return f"<section><h2>{escape(title)}</h2><p class='muted'>none</p></section>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<section><h2>{escape(title)}</h2><table class='summary'><tr>{head}</tr>{body}</table></section>"


def _json_for_html(value) -> str:
    """JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` can end or confuse it."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
