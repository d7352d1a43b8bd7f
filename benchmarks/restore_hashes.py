"""sha256 of the outputs of a fixed set of small restorations, by the CLI and by the library.

Run it before and after a refactor that should not change what a restoration returns::

    PYTHONPATH=. python -m benchmarks.restore_hashes --save before.json
    PYTHONPATH=. python -m benchmarks.restore_hashes --save after.json --compare before.json

Every case names its steps (3), so the prior's recommended step count does not enter. The CLI runs in-process
(``ddnm-batch restore`` through Typer's runner) and is hashed as PNG bytes (provenance included) and as its
decoded pixels; the library (``ddnm.restore`` on the same decoded measurement) as the tensor's bytes and as the
8-bit pixels the CLI would write, so the table's ``same px`` column shows whether the library and the CLI agree.
Inputs are synthetic (seeded gradients and noise) and written to a temporary folder; ~2-3 min on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

STEPS = "3"
# name -> (op, input image (h, w, channels, side), mask?, CLI options beyond --op/--steps, library kwargs)
CASES = {
    "colorize_64": ("colorize", (64, 64, 1), False, [], {}),
    "colorize_100x80": ("colorize", (80, 100, 1), False, [], {}),
    "sr_bicubic_x2_48": ("sr_bicubic", (48, 48, 3), False, ["--scale", "2"], {}),
    "inpaint_96": ("inpaint", (96, 96, 3), True, [], {}),
    "old_photo_64": ("old_photo", (64, 64, 1), True, [], {}),
    "denoise_sigma_0.1": ("denoise", (64, 64, 3), False, ["--sigma-y", "0.1"], {"sigma_y": 0.1}),
    "sr_avgpool_samples_2": ("sr_avgpool", (32, 32, 3), False, ["--scale", "2", "--samples", "2"], {"samples": 2}),
    "sr_avgpool_ddpg": ("sr_avgpool", (32, 32, 3), False, ["--scale", "2", "--guidance", "ddpg"], {"guidance": "ddpg"}),
    "sr_avgpool_reference": ("sr_avgpool", (32, 32, 3), False, ["--scale", "2", "--convention", "reference"],
                             {"convention": "reference"}),
    "ffdnet_sr_bicubic_x2": ("sr_bicubic", (32, 32, 3), False, ["--scale", "2", "--model", "ffdnet"], {}),
    "adm_random_sr_avgpool": ("sr_avgpool", (16, 16, 3), False, ["--scale", "2", "--model", "ADM"], {}),
    "adm_random_colorize_40": ("colorize", (40, 40, 1), False, ["--model", "ADM"], {}),
}
TINY_ADM = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="16",
                num_heads=2, learn_sigma=True)


def synthetic(h: int, w: int, c: int, seed: int) -> np.ndarray:
    """A smooth gradient with seeded noise, uint8 (h, w, c)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx + yy) * 127 / (h + w)) + 60][:c], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def random_adm(folder: Path) -> str:
    """A tiny randomly initialised ADM (32x32 window) as .safetensors + sidecar .json (docs/CONTRACTS.md)."""
    from safetensors.torch import save_file

    from ddnm.models.adm import create_model

    torch.manual_seed(0)  # create_model's own initialisation draws from the global generator
    net = create_model(**TINY_ADM)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    path = folder / "random-adm.safetensors"
    save_file(net.state_dict(), str(path))
    config = {"arch": "adm", "hparams": TINY_ADM, "schedule": {"kind": "linear", "T": 1000}, "name": "random-adm",
              "license": "CC0-1.0"}
    path.with_suffix(".json").write_text(json.dumps(config))
    return str(path)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_pixels(data: bytes) -> str:
    from PIL import Image

    return sha(np.asarray(Image.open(io.BytesIO(data))).tobytes())


def run_cli(args: list[str]) -> bytes | str:
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        return f"exit {result.exit_code}: {(result.output.strip().splitlines() or [''])[-1][:120]}"
    return Path(args[2]).read_bytes()


def run_library(source: Path, mask: Path | None, op_name: str, cli: list[str], kwargs: dict, model_path: str):
    import ddnm
    import ddnm.models

    from pipeline import decode, encode, measurement

    options = dict(zip(cli[::2], cli[1::2]))
    model = options.get("--model", "bundled")
    model = None if model == "bundled" else (model_path if model == "ADM" else model)
    prior = ddnm.models.load(model)
    params = {"scale": int(options["--scale"])} if "--scale" in options else {}
    pixels = decode.decode_image(source.read_bytes(), 10**8).samples
    mask_array = decode.decode_mask(mask.read_bytes(), pixels.shape[1:], 10**8) if mask else None
    op, y = measurement.build(op_name, json.dumps(params, sort_keys=True), [pixels], mask_array, prior.in_channels)
    x, _ = ddnm.restore(y, op, prior, steps=int(STEPS), seed=0, **kwargs)
    return sha(x.float().contiguous().numpy().tobytes()), sha(encode.to_uint8(x[0].float().cpu().numpy()).tobytes())


def run_all(only: set[str] | None) -> dict:
    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path = random_adm(folder)
        for i, (name, (op, (h, w, c), with_mask, cli, kwargs)) in enumerate(CASES.items()):
            if only and name not in only:
                continue
            source = folder / f"{name}.png"
            write_png(source, synthetic(h, w, c, i))
            mask = None
            if with_mask:
                mask = folder / f"{name}-mask.png"
                known = np.full((h, w, 1), 255, np.uint8)
                known[h // 4 : h // 2, w // 3 : 2 * w // 3] = 0
                write_png(mask, known)
            args = ["restore", str(source), str(folder / f"{name}-out.png"), "--op", op, "--steps", STEPS,
                    "--device", "cpu", *[model_path if a == "ADM" else a for a in cli]]
            if mask:
                args += ["--mask", str(mask)]
            started = time.time()
            png = run_cli(args)
            row = {"cli_png": sha(png) if isinstance(png, bytes) else png,
                   "cli_px": png_pixels(png) if isinstance(png, bytes) else png}
            try:
                row["lib_tensor"], row["lib_px"] = run_library(source, mask, op, cli, kwargs, model_path)
            except Exception as exc:  # noqa: BLE001 - recorded in the table
                row["lib_tensor"] = row["lib_px"] = f"{type(exc).__name__}: {str(exc)[:100]}"
            row["seconds"] = round(time.time() - started, 1)
            out[name] = row
            print(f"{name}: {row['seconds']} s", flush=True)
    return out


def table(after: dict, before: dict | None) -> str:
    lines = [f"{'case':28} {'cli png':10} {'lib tensor':10} {'same px':8}" + ("  vs before: cli png, lib" if before else "")]
    for name, row in after.items():
        same = "yes" if row["cli_px"] == row["lib_px"] else "no"
        line = f"{name:28} {row['cli_png'][:10]:10} {row['lib_tensor'][:10]:10} {same:8}"
        if before and name in before:
            b = before[name]
            line += f"  {'same' if b['cli_png'] == row['cli_png'] else 'DIFF':5} {'same' if b['lib_tensor'] == row['lib_tensor'] else 'DIFF'}"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", help="write the hashes to this JSON file")
    parser.add_argument("--compare", help="a JSON file from an earlier run to compare with")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    args = parser.parse_args()
    hashes = run_all(set(args.only) if args.only else None)
    if args.save:
        Path(args.save).write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    before = json.loads(Path(args.compare).read_text()) if args.compare else None
    print(table(hashes, before))


if __name__ == "__main__":
    main()
