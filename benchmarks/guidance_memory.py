"""Peak memory of one guidance rule's sampling, each measured in a fresh process.

A process's peak resident set only grows, and the allocator keeps freed pages, so rules measured one after
another in one process would hide each other. Each rule therefore runs a short restore (the per-step working
set does not grow with the number of steps) in its own child process. The child loads the prior, crops and
operator, runs one step of the rule on one crop (imports, thread pools and lazy initialisation are then paid
for), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``), reads its resident set, samples, and reports
the peak above that level. The reset matters: loading the crops and weights peaks above the warm level and the
allocator returns those pages, so the lifetime peak (``ru_maxrss``) could be the loading's, not the sampling's
(seen here: DDNM "sampling" at 230-370 MiB, 6-9× its real cost, whenever glibc happened to trim). On CUDA it reports
``torch.cuda.max_memory_allocated`` above the allocation before sampling instead.

    python -m benchmarks.guidance_memory DPS SR×4 8 64 2 cpu 1   # one child (images, size, steps, device,
                                                                 # threads): prints its peak as JSON
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def resident_mib() -> float:
    """This process's resident set now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def reset_peak_resident() -> None:
    """Start a new peak-RSS window (Linux ≥ 4.0: writing 5 to ``/proc/self/clear_refs`` resets ``VmHWM``); where it
    cannot, :func:`peak_resident_mib` reads the process's lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_resident_mib() -> float:
    """The peak resident set since the last :func:`reset_peak_resident` (``VmHWM``), or of the process's life."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child_peak(method: str, task: str, images: int, size: int, steps: int, device: str, threads: int) -> float:
    """In this process: load, warm up, sample ``steps`` steps with ``method``; the peak MiB above the warm level."""
    import ddnm
    from benchmarks.guidance_cases import METHODS, TASKS, load_images, load_prior
    from ddnm.operators import make

    torch.set_num_threads(threads)
    model = load_prior(torch.device(device))
    _, x = load_images(size, images)
    name, params = TASKS[task]
    op = make(name, (3, size, size), **params).to(device)
    y = op.A(x.to(device))
    guidance, _ = METHODS[method]
    # One step on one crop first: imports, thread pools and lazy initialisation are then paid for.
    ddnm.restore(y[:1], op, model, steps=1, guidance=guidance, seed=0)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_resident()  # else the peak may be the loading's (module doc)
    before = torch.cuda.memory_allocated() / 2**20 if cuda else resident_mib()
    ddnm.restore(y, op, model, steps=steps, guidance=guidance, seed=0)
    if cuda:
        return torch.cuda.max_memory_allocated() / 2**20 - before
    return peak_resident_mib() - before


def _run_child(method: str, task: str, images: int, size: int, steps: int, device: str, threads: int) -> float:
    command = [sys.executable, "-m", "benchmarks.guidance_memory", method, task, str(images), str(size), str(steps),
               device, str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # ROOT: benchmarks importable
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"]


def sampling_memory_mib(methods: list[str], task: str, images: int, size: int, device: str, threads: int = 1,
                        steps: int = 2) -> dict[str, float]:
    """Peak memory of sampling a batch of ``images`` size×size crops with each method, above the warmed-up process
    (MiB)."""
    return {m: max(0.0, _run_child(m, task, images, size, steps, device, threads)) for m in methods}


if __name__ == "__main__":
    method, task, images, *rest = sys.argv[1:]
    size, steps, device, threads = (int(rest[0]), int(rest[1]), rest[2], int(rest[3])) if rest else (64, 2, "cpu", 1)
    print(json.dumps({"peak_mib": child_peak(method, task, int(images), size, steps, device, threads)}))
