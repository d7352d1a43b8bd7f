"""The bundled colour prior on photos of people (benchmarks/colour_people.py): a face coloured closer to the truth
than the gray scan, where the colour prior before session 14's people-weighted fine-tune made it olive-green."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.colour import SETS

KODIM15 = SETS["kodak24"] / "kodim15.png"


@pytest.mark.slow
@pytest.mark.skipif(not KODIM15.exists(), reason="needs ../shared/eval (Kodak24)")
def test_the_face_painted_child_is_coloured_closer_to_the_truth_than_gray(tmp_path, monkeypatch):
    from benchmarks import colour_people

    monkeypatch.setattr(colour_people, "append_result",
                        lambda name, row: (tmp_path / "rows.jsonl").open("a").write(json.dumps(row) + "\n"))
    assert colour_people.main(["--photos", "kodim15", "--out", str(tmp_path / "people.jpg")]) == 0
    row = json.loads((tmp_path / "rows.jsonl").read_text())
    assert row["kodak people"] == 1 and Path(tmp_path / "people.jpg").stat().st_size > 0
    # shipped before session 14 (4bf33dc60bc6): ΔE2000 16.9 against gray's 14.5, the face olive-green; since: 12.8
    assert row["delta_e"] < row["gray_delta_e"]
