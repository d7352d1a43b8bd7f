"""``ddnm-batch restore IN OUT --op OP``: restore one of the user's own degraded files (y-only), no Ray.

The input is the measurement as the archive holds it: a gray scan to colorize, a small image to
super-resolve, an image plus a mask file to inpaint, a blurry image (plus kernel) to deblur.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console

from ..ops import PLANS, check_op, colour_strength_for, engine_operator_names
from ._settings_options import with_restore_options
from ._json_options import parse_json_object
from ..settings import DEFAULT_MAX_PIXELS, RestoreSettings


def register(app: typer.Typer) -> None:
    app.command("restore")(restore)


@with_restore_options
def restore(
    input_uri: Annotated[str, typer.Argument(metavar="IN", help="Degraded image (path, file:// or s3://).")],
    output_uri: Annotated[str, typer.Argument(
        metavar="OUT", help="Where to write the restored image: a .png, or a .tif for a TIFF.")],
    op: Annotated[str, typer.Option(help=f"Operator: {', '.join(sorted(PLANS))}.")],
    scale: Annotated[int | None, typer.Option(help="Scale factor for sr_avgpool / sr_bicubic.")] = None,
    mask: Annotated[str | None, typer.Option(help="Mask image for inpaint / old_photo (white = known).")] = None,
    params: Annotated[str, typer.Option(help='Other operator parameters as JSON, e.g. {"sigma": 2.0}.')] = "{}",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    page: Annotated[int, typer.Option(min=1, help="Which image of a multi-page TIFF or animation (from 1).")] = 1,
    negative: Annotated[bool, typer.Option(
        "--negative", help="IN is a scan of a negative (glass plate, film): restore its positive.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    max_pixels: Annotated[int, typer.Option(help="Refuse larger inputs/outputs.")] = DEFAULT_MAX_PIXELS,
    restore: RestoreSettings | None = None,
) -> None:
    """Restore IN (the degraded measurement itself) and write OUT with provenance; print the residual."""
    # Imported here so that `ddnm-batch --help` and the other commands start without loading torch.
    import ddnm

    from .. import decode, encode, io, measurement
    from ..ops import output_too_large
    from ..preflight import check_output_file, output_format_of, why
    from ..resolution import output_dpi
    from ..restore_progress import StepProgress
    from ..restore_stage import resolve_device
    from ..rows import RowError
    from ..settings import JobSettings

    console = Console(stderr=True)
    try:
        if (reason := check_op(op, engine_operator_names())) is not None:
            raise RowError("BadOp", reason)
        op_params = _params(params, scale)
        check_output_file(output_uri)  # before the restoration, not after it
        source = io.read_bytes(input_uri)
        pixels, input_mode, profile, inherited, pages, _, dpi = decode.decode_image(source, max_pixels, page, negative)
        if pages > 1:  # said before the work, so a wrong file is noticed at once
            console.print(f"note: {input_uri} holds {pages} images (pages or frames); image {page} is restored. "
                          "Pass --page N for another.", highlight=False, soft_wrap=True)
        if reason := output_too_large(op, op_params, *pixels.shape[1:], max_pixels):
            raise RowError("OutputTooLarge", reason)
        mask_array = None
        if mask is not None:
            mask_array = decode.decode_mask(io.read_bytes(mask), pixels.shape[1:], max_pixels)
        elif PLANS.get(op) and PLANS[op].needs_mask:
            raise RowError("MissingMask", f"operator {op!r} needs --mask MASK.png (white = known pixel)")
        target = resolve_device(device)
        settings = restore
        prior = settings.model.load(device=target)
        operator, y = measurement.build(op, json.dumps(op_params, sort_keys=True), [pixels], mask_array, prior.in_channels)
        started = time.time()
        # refuses what the sampler would, before any work; colour: the prior that colours (its companion)
        resolved = settings.for_model(ddnm.restoring_prior(prior, operator, settings), operator)
        _hint_noise(console, y, resolved, prior)
        colour = bool(resolved.work_size)  # K samples in one batch there
        with StepProgress(console, resolved.sampler.steps, 1 if colour else resolved.samples) as progress:
            out = ddnm.restore(y.to(target), operator, prior, settings, seed=[seed], callback=progress.step,
                               on_windows=progress.windows)  # fmt: skip
    except (RowError, ValueError, FileNotFoundError, NotImplementedError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    estimated = None if out.sigma_y is None else float(out.sigma_y[0])
    # the ledger row run would record for this image, so the provenance is written by run's own function
    row = {"op": op, "params": json.dumps(op_params, sort_keys=True), "model_name": out.prior.name,
           "weights_sha256": out.prior.weights_sha256, "seed": seed, "steps": out.settings.sampler.steps,
           "samples": out.samples, "consistency_residual": float(out.residual[0]),
           "input_sha256": io.sha256_hex(source), "work_size": out.work_size, "start_t": out.settings.sampler.start_t,
           "input_page": page, "input_negative": negative, "sigma_y": estimated,
           "colour_strength": colour_strength_for(op, out.settings.colour_strength)}  # fmt: skip
    provenance = encode.restored_provenance(row, JobSettings("-", "-", restore=settings))
    if out.uncertainty is not None:  # restore's own: run records the spread in the ledger
        provenance["uncertainty"] = f"{float(out.uncertainty[0]):.4g}"
    x = measurement.in_source_channels(out.x[0].float().cpu().numpy(), pixels.shape[0], op)  # grey stays grey
    bits, icc = encode.sample_bits(input_mode), encode.output_profile(profile, op, x.shape[0])
    dpi = output_dpi(dpi, pixels.shape[1:], x.shape[1:])  # the scan's inches: ×4 SR of 600 dpi is 2400 dpi
    output_format = output_format_of(output_uri)
    image = encode.encode_image(x, provenance, bits, icc, inherited, output_format, dpi)
    try:
        io.write_bytes_atomic(output_uri, image, content_type=encode.CONTENT_TYPES[output_format])
    except OSError as exc:  # checked before restoring, so the disk filled up or went away meanwhile
        console.print(f"[red]error:[/red] restored, but cannot write {output_uri}: {why(exc)}", highlight=False,
                      soft_wrap=True)  # fmt: skip
        raise typer.Exit(1) from None
    tiled = f"; {out.tiles} windows, seam ratio {float(out.seam_ratio[0]):.3f}" if out.seam_ratio is not None else ""
    if out.work_size is not None:
        tiled = f"; colour at working size {out.work_size} px, lifted to {operator.x_shape[2]}×{operator.x_shape[1]}"
    if (strength := row["colour_strength"]) not in (None, 1.0):
        tiled += f"; colour strength {strength:g}"
    spread = ""
    if out.uncertainty is not None:
        spread = f"; mean of {out.samples} samples, uncertainty {float(out.uncertainty[0]):.3g}"
    if estimated is not None:
        spread += f"; noise σ_y estimated {estimated:.3g}" + (" (DDNM+)" if estimated > 0 else " (none: DDNM)")
    kept = [f"{bits}-bit"] + (["ICC profile"] if icc else []) + sorted(inherited)  # what the output kept of the scan
    console.print(
        f"restored {input_uri} → {output_uri} ({', '.join(kept)}) in {time.time() - started:.1f} s; "
        f"consistency ‖Ax̂ − y‖/‖y‖ = {float(out.residual[0]):.2e}{tiled}{spread}",
        highlight=False, soft_wrap=True,  # one line in a log, for grep; a terminal wraps it itself
    )


def _hint_noise(console: Console, y, resolved, prior) -> None:
    """Say so where a scan restored as noiseless (no --sigma-y, no estimate) looks grainy: plain DDNM keeps y's
    noise. Colour at the working size and latent priors take no sigma_y, so they get no hint."""
    from ddnm.noise import NOISY, estimate_sigma_y

    if resolved.work_size or resolved.estimate_sigma_y or resolved.sampler.sigma_y or getattr(prior, "is_latent", 0):
        return
    if (level := float(estimate_sigma_y(y.float())[0])) > NOISY:
        console.print(f"note: the scan looks noisy (σ_y ≈ {level:.3f} in [-1, 1] units); plain DDNM keeps its "
                      "noise. --estimate-sigma-y restores it with DDNM+ at that level.", highlight=False,
                      soft_wrap=True)  # fmt: skip


def _params(text: str, scale: int | None) -> dict:
    params = parse_json_object(text, "--params", '{"sigma": 2.0}')
    if scale is not None:
        params["scale"] = scale
    return params
