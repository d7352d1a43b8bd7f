"""The review page's CSV export, run in Node on the page's own decisions.js: cells a spreadsheet would run
as formulas (= + - @, tab, CR first) are neutralised, and the rest stays a valid manifest."""

from __future__ import annotations

import csv
import io as stdio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

DECISIONS_JS = Path(__file__).resolve().parents[1] / "pipeline" / "report" / "static" / "decisions.js"

# A browser-free stand-in for the page: window, localStorage and DDNM.notice, then decisions.js itself.
HARNESS = """
const fs = require("fs"), vm = require("vm");
const store = new Map();
globalThis.window = {DDNM: {notice: (m) => { throw new Error(m); }},
                     localStorage: {getItem: (k) => store.get(k) || null, setItem: (k, v) => store.set(k, v)}};
const [script, data] = process.argv.slice(-2);
vm.runInThisContext(fs.readFileSync(script, "utf8"));
const rows = JSON.parse(data);
const decisions = new window.DDNM.Decisions("test");
for (const row of rows) decisions.set(row, "rejected", row.note);
process.stdout.write(decisions.csv(rows));
"""


def export(rows: list[dict]) -> list[dict]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node here to run the page's JavaScript")
    result = subprocess.run([node, "-e", HARNESS, str(DECISIONS_JS), json.dumps(rows)], capture_output=True,
                            timeout=60, check=True)  # fmt: skip
    # Bytes, decoded here: text mode would turn a quoted CR into a newline.
    return list(csv.DictReader(stdio.StringIO(result.stdout.decode("utf-8"), newline="")))


def test_formula_cells_are_neutralised_and_plain_ones_kept():
    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    rows = [{"id": f"{text}", "uri": f"/in/{i}.png", "op": "colorize", "mask_uri": "", "params": "{}",
             "output_sha256": f"{i:064d}", "note": text, "extra": {"shelf": text}} for i, text in enumerate(hostile)]
    rows.append({"id": "plain-1", "uri": "/in/p.png", "op": "sr_avgpool", "mask_uri": "", "params": '{"scale":2}',
                 "output_sha256": "f" * 64, "note": "a, \"quoted\" note", "extra": {"shelf": "A1"}})  # fmt: skip
    exported = export(rows)
    assert len(exported) == len(rows)
    for row, text in zip(exported, hostile):
        for key in ("id", "note", "shelf"):
            assert row[key] == "'" + text, (key, row[key])  # a leading apostrophe: shown as text
    plain = exported[-1]
    assert (plain["id"], plain["params"], plain["note"], plain["shelf"]) == (
        "plain-1", '{"scale":2}', 'a, "quoted" note', "A1")
