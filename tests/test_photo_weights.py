"""Photo weights (``jobs.photos.photo_weights``, ``--photo-weights``): some photos drawn more often than the rest, as the
colour prior's session-14 fine-tune drew the photos of people (jobs/people.txt)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from jobs.data import CropSampler, CropSettings
from jobs.photos import holdout_names, list_images, photo_weights, split_holdout

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared/corpus"


def flat_photos(folder: Path) -> list[Path]:
    """A red and a blue photo: every crop says which photo it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rgb in (("red.png", (220, 20, 20)), ("blue.png", (20, 20, 220))):
        Image.fromarray(np.full((48, 64, 3), rgb, dtype=np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths


def blue_share(sampler: CropSampler, n: int = 600) -> float:
    x = sampler.sample(n)
    return (x[:, 2].mean(dim=(1, 2)) > 0).float().mean().item()


def test_crops_follow_the_photo_weights(tmp_path):
    paths = flat_photos(tmp_path / "images")
    settings = CropSettings(window=16)
    assert abs(blue_share(CropSampler(paths, settings, seed=1)) - 0.5) < 0.07
    assert abs(blue_share(CropSampler(paths, settings, seed=1, weights=[1, 4])) - 0.8) < 0.06
    assert blue_share(CropSampler(paths, settings, seed=1, weights=[1, 0])) == 0.0
    for bad in ([1], [1, -1], [0, 0]):
        with pytest.raises(ValueError):
            CropSampler(paths, settings, weights=bad)


def test_weights_file_names_photos_and_refuses_typos(tmp_path):
    paths = flat_photos(tmp_path / "images")
    good = tmp_path / "w.txt"
    good.write_text("# people\nblue.png 6   # the one with skin\n\n")
    assert photo_weights(paths, good) == [1.0, 6.0]
    for text, why in (("bleu.png 6\n", "not in the corpus"), ("blue.png\n", ":1:"), ("blue.png six\n", ":1:"),
                      ("blue.png inf\n", ":1:"),
                      ("red.png 1\nblue.png -2\n", ":2:")):
        (tmp_path / "bad.txt").write_text(text)
        with pytest.raises(ValueError, match=why):
            photo_weights(paths, tmp_path / "bad.txt")


def test_a_weighted_run_trains_and_records_its_weights(tmp_path):
    from jobs.train_prior import main
    from test_train_prior import tiny_settings

    flat_photos(tmp_path / "corpus" / "images")
    # blue.png is the hold-out of this two-photo folder (lowest name hash): listing it is allowed, and changes nothing
    (tmp_path / "w.txt").write_text("red.png 3\nblue.png 5\n")
    settings = tiny_settings(tmp_path / "corpus", tmp_path, photo_weights=tmp_path / "w.txt", steps=2)
    done = main(settings)
    meta = json.loads(settings.export_path.with_suffix(".json").read_text())
    assert done.step == 2 and meta["photo_weights"] == {"red.png": 3.0}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus")
def test_people_list_names_training_photos_of_the_corpus():
    train, held = split_holdout(list_images(CORPUS))
    weights = photo_weights(train, REPO / "jobs/people.txt")
    listed = {p.name for p, w in zip(train, weights) if w != 1}
    assert len(listed) == 15 and not listed & set(holdout_names())


def train_cli(*args: str):
    """``python -m jobs.train_cli ARGS`` in process (Typer's runner), for what it tells a user about bad input."""
    import typer

    from jobs.train_cli import train

    app = typer.Typer()
    app.command()(train)
    return CliRunner().invoke(app, list(args))


def test_train_cli_refuses_a_bad_weights_file_in_one_line(tmp_path):
    paths = flat_photos(tmp_path / "corpus" / "images")
    (tmp_path / "w.txt").write_text("green.png 3\n")
    result = train_cli("--corpus", str(paths[0].parent.parent), "--photo-weights", str(tmp_path / "w.txt"),
                       "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "not in the corpus: green.png" in result.output and "Traceback" not in result.output


def test_train_cli_refuses_a_missing_corpus_in_one_line(tmp_path):
    result = train_cli("--corpus", str(tmp_path / "nowhere"), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "nowhere" in result.output and "Traceback" not in result.output
