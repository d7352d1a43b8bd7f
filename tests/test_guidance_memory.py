"""benchmarks/guidance_memory.py: the sampling memory docs/guidance.md reports, each rule in a fresh process."""

from __future__ import annotations

import pytest

from benchmarks.guidance_cases import EVAL_DIR
from benchmarks.guidance_memory import sampling_memory_mib


# Slow-marked (two fresh processes that load torch and the prior). Until the children reset the kernel's peak-RSS mark
# before sampling (benchmarks/guidance_memory.py), DDNM sometimes read 230-370 MiB: the peak of loading the crops,
# whose pages the allocator had since returned, not of sampling (DDNM ~40 MiB, DPS ~160 MiB for 4 crops).
@pytest.mark.slow
@pytest.mark.skipif(not (EVAL_DIR / "Set5").is_dir(), reason=f"no evaluation images under {EVAL_DIR}")
def test_backpropagating_through_the_network_costs_more_memory_than_projecting():
    memory = sampling_memory_mib(["DDNM", "DPS"], "SR×4", images=4, size=64, device="cpu")
    # DPS keeps the network's activations for the backward pass (measured ~180 MiB for 4 crops) while DDNM runs
    # under inference mode (~40 MiB); resident-set readings wander by up to ~50 MiB, less than the gap.
    assert memory["DPS"] > 2 * memory["DDNM"]
    assert memory["DPS"] - memory["DDNM"] > 50
