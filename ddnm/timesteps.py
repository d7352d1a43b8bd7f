"""Which timesteps a sampler visits, and in which order (DDIM sub-sequence, DDNM time-travel)."""

from __future__ import annotations


def timestep_grid(num_timesteps: int, steps: int, start_t: int | None = None) -> list[int]:
    """Ascending sub-sequence τ of ``steps`` timesteps in [0, start_t] (DDIM §4.2).

    Evenly spaced and always containing 0 and ``start_t`` (default T-1), so the walk down ends on
    the cleanest timestep and a warm start begins exactly where it was asked to.
    """
    top = num_timesteps - 1 if start_t is None else start_t
    if not 0 <= top < num_timesteps:
        raise ValueError(f"start_t {start_t} is outside the model's schedule [0, {num_timesteps - 1}]")
    steps = min(steps, top + 1)
    if steps == 1:
        return [top]
    grid = sorted({round(i * top / (steps - 1)) for i in range(steps)})
    return grid


def reference_grid(num_timesteps: int, steps: int) -> list[int]:
    """The authors' code's grid t_i = i·(T // steps), i = 0 … steps−1 (0 … 980 for T = 1000, 50 steps).

    It does not reach T−1 unless steps is T: for 50 steps the first denoising step starts from pure noise
    treated as x_980 (ᾱ = 5.9e-5 on the linear schedule, against 4.0e-5 at t = 999).
    """
    steps = min(steps, num_timesteps)
    skip = num_timesteps // steps
    return [i * skip for i in range(steps)]


def time_travel_path(steps: int, travel_length: int = 0, travel_repeat: int = 1) -> list[int]:
    """Indices into the grid, from ``steps - 1`` down to ``-1`` (the clean image), with time-travel.

    DDNM §3.4 ("time-travel trick"): after reaching every L-th grid index on the way down, jump
    back up L indices and sample that segment again, ``travel_repeat - 1`` extra times.
    """
    if travel_length <= 0 or travel_repeat <= 1:
        return list(range(steps - 1, -2, -1))
    repeats_left = {j: travel_repeat - 1 for j in range(0, steps - travel_length, travel_length)}
    path, i = [steps - 1], steps - 1
    while i > -1:
        i -= 1
        path.append(i)
        if repeats_left.get(i, 0) > 0:
            repeats_left[i] -= 1
            for _ in range(travel_length):
                i += 1
                path.append(i)
    return path


def time_travel_pairs(grid: list[int], travel_length: int = 0, travel_repeat: int = 1) -> list[tuple[int, int]]:
    """Consecutive ``(t, t_next)`` timestep pairs; ``t_next = -1`` means the clean image.

    ``t_next < t`` is a denoising step; ``t_next > t`` is a time-travel jump back up (re-noising).
    """
    path = time_travel_path(len(grid), travel_length, travel_repeat)
    as_t = [grid[i] if i >= 0 else -1 for i in path]
    return list(zip(as_t[:-1], as_t[1:]))
