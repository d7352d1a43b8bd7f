"""Training on a GPU lease, checked on the CPU: crop worker processes and a wall-clock budget (jobs/train_gpu.sh)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jobs.data import CropSettings
from jobs.photos import list_images
from jobs.train_prior import main
from tests.test_train_prior import corpus, one_thread, tiny_settings  # noqa: F401  (fixtures and settings)


def test_parallel_crop_workers_cut_seeded_batches_and_a_resume_draws_fresh_ones(corpus):
    """The GPU path's crop workers: batches of the asked shape and range, the same stream for the same (seed, step),
    another one after a resume (start_at), and each worker its own crops."""
    from jobs.data import ParallelCropSampler

    paths, settings = list_images(corpus), CropSettings(window=16, hflip=False)

    def first_batches(step: int) -> list[torch.Tensor]:
        sampler = ParallelCropSampler(paths, settings, seed=0, workers=2, batch_size=3)
        sampler.start_at(step)
        return [sampler.sample(3) for _ in range(2)]  # one batch from each worker (the loader alternates)

    a, again, resumed = first_batches(0), first_batches(0), first_batches(100)
    assert a[0].shape == (3, 3, 16, 16) and a[0].min() >= -1 and a[0].max() <= 1
    assert all(torch.equal(x, y) for x, y in zip(a, again))
    assert not torch.equal(a[0], a[1])  # two workers, two seeds
    assert not any(torch.equal(x, y) for x, y in zip(a, resumed))
    with pytest.raises(ValueError, match="batches of 3"):
        ParallelCropSampler(paths, settings, seed=0, workers=1, batch_size=3).sample(4)


def test_a_wall_clock_budget_stops_and_saves_a_resumable_run(corpus, tmp_path):
    """max_minutes ends the run before its step bound with a checkpoint and an export; crop workers resume too."""
    settings = tiny_settings(corpus, tmp_path, steps=10_000, max_minutes=0.05, workers=1, checkpoint_every_s=1e9)
    trainer = main(settings)
    assert 0 < trainer.step < 10_000
    assert (settings.checkpoint_dir / "state.pt").is_file() and settings.export_path.is_file()
    again = main(dataclasses.replace(settings, steps=trainer.step + 2, max_minutes=None))
    assert again.step == trainer.step + 2
    # and the other way, as a GPU run continued on a CPU: crops cut in the training process again
    on_cpu = main(dataclasses.replace(settings, steps=again.step + 2, max_minutes=None, workers=0))
    assert on_cpu.step == again.step + 2
    # a CUDA run's (t, ε) generator state (16 bytes) cannot be set on a CPU generator: the run goes on, seeded
    state_path = settings.checkpoint_dir / "state.pt"
    state = torch.load(state_path, weights_only=True)
    torch.save({**state, "generator": torch.cuda.default_generators[0].get_state() if torch.cuda.is_available()
                else torch.zeros(16, dtype=torch.uint8)}, state_path)  # fmt: skip
    from_gpu = main(dataclasses.replace(settings, steps=on_cpu.step + 2, max_minutes=None, workers=0))
    assert from_gpu.step == on_cpu.step + 2
    with pytest.raises(ValueError, match="workers"):
        tiny_settings(corpus, tmp_path, workers=-1)


def test_the_gpu_lease_script_runs_on_a_cpu_and_leaves_a_resumable_run(corpus, tmp_path):
    """jobs/train_gpu.sh with DEVICE=cpu: what a lease runs, minus the GPU (a broken script costs a lease)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "DDNM_CORPUS": str(corpus)}
    done = subprocess.run(["bash", "jobs/train_gpu.sh", str(tmp_path), "0.02", "1"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    run = tmp_path / "ddnm-prior-64"
    assert (run / "checkpoint" / "state.pt").is_file() and (run / "export" / "ddnm-prior-64.safetensors").is_file()
    assert not (tmp_path / "ddnm-colour-32").exists()  # the colour prior only when asked for (WORKERS_32 > 0)


def test_train_speed_splits_a_step_into_feeding_and_network(corpus, tmp_path, monkeypatch):
    """benchmarks/train_speed.py, what the next lease runs first: one row per worker count, naming the machine."""
    import json

    import benchmarks.common
    from benchmarks import train_speed

    monkeypatch.setattr(benchmarks.common, "RESULTS", tmp_path / "results.jsonl")
    train_speed.main(["--device", "cpu", "--batch-size", "2", "3", "--steps", "1", "--warmup", "1", "--workers", "1",
                      "--threads", "1", "--corpus", str(corpus)])
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [row["batch"] for row in rows] == [2, 3]  # one row per (batch, compile, workers)
    for row in rows:
        assert row["benchmark"] == "train_speed" and row["workers"] == 1 and row["cpu_count"] >= 1
        assert 0 < row["network_s_per_step"] and 0 < row["s_per_step"] and 0 <= row["feeding_share"] < 1
        assert row["compile"] is False


@pytest.mark.slow  # compiling the forward and backward takes ~2 minutes on one core
def test_a_compiled_training_step_trains_the_same_network(corpus, tmp_path):
    """TrainSettings.compile: the step calls the compiled network; the losses follow the eager ones to float
    rounding, and what is saved (Trainer.net) is the trained network itself."""
    from jobs.train_prior import Trainer

    losses, nets = {}, {}
    for compiled in (False, True):
        trainer = Trainer(tiny_settings(corpus, tmp_path / str(compiled), compile=compiled, bf16=False))
        trainer.resume()
        x0 = torch.linspace(-1, 1, 4 * 3 * 16 * 16).view(4, 3, 16, 16)
        losses[compiled] = torch.tensor([float(trainer.optimise(x0)) for _ in range(3)])
        nets[compiled] = trainer.net
    assert not hasattr(nets[True], "_orig_mod")  # the plain module, whose state_dict the checkpoint keeps
    assert torch.allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][2] != losses[True][0]  # it trained
    # the same function (parameters themselves may differ by ~lr where Adam normalises a near-zero gradient)
    x, t = torch.linspace(-1, 1, 2 * 3 * 16 * 16).view(2, 3, 16, 16), torch.tensor([10, 500])
    with torch.no_grad():
        eps_compiled, eps_eager = nets[True](x, t), nets[False](x, t)
    assert (eps_compiled - eps_eager).abs().max() < 1e-3 * eps_eager.abs().max()


def test_the_step_autocasts_to_bf16_only_where_the_cpu_does_it_natively(corpus, tmp_path):
    """settings.bf16 asks; Trainer.bf16 answers for this device. Where it is on, the step's loss is the bf16 one (it
    differs from fp32's on the same batch and draw); --no-bf16 keeps fp32 throughout."""
    from jobs.train_prior import Trainer

    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    losses = {}
    for bf16 in (True, False):
        trainer = Trainer(tiny_settings(corpus, tmp_path / str(bf16), bf16=bf16))
        trainer.resume()
        assert trainer.bf16 is (bf16 and native)
        x0 = torch.linspace(-1, 1, 4 * 3 * 16 * 16).view(4, 3, 16, 16)
        trainer.optimise(x0)  # ADM's output layer starts at zero: the first loss is E[ε²] at any precision
        losses[bf16] = float(trainer.optimise(x0))
    assert all(torch.isfinite(torch.tensor(list(losses.values()))))
    assert (losses[True] != losses[False]) is native
