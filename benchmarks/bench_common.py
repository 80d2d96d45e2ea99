"""What the accuracy benchmarks share: in-process `echopv` commands with their CPU cost, command lines
recorded without this machine's directories, models trained with several seeds grouped for the tables."""
from __future__ import annotations

import math
import re
import shlex
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


def portable(argv: list[str]) -> str:
    """The command line without this machine's directories (absolute paths cut to their file name),
    quoted so that it can be pasted into a shell."""
    return shlex.join(Path(a).name if a.startswith("/") else a for a in argv)


def group_by_seed(named: dict[str, Any], pattern: re.Pattern) -> dict[str, dict[int, Any]]:
    """{'model': a, 'model (seed 1)': b, 'other': c} -> {'model': {0: a, 1: b}}: the seed is the first numeric
    group of `pattern` in the name (0 without a match), the recipe the name without the match; recipes
    with one seed are left out."""
    groups: dict[str, dict[int, Any]] = {}
    for name, value in named.items():
        m = pattern.search(name)
        seed = int(next((g for g in m.groups() if g and g.isdigit()), 0)) if m else 0
        groups.setdefault(pattern.sub("", name), {})[seed] = value
    return {name: dict(sorted(by_seed.items())) for name, by_seed in groups.items() if len(by_seed) > 1}


def seed_cells(values: list[float], fmt: str) -> list[str]:
    """Two table cells: the values per seed, and their mean in bold."""
    return [" / ".join(fmt.format(v) for v in values), "**" + fmt.format(sum(values) / len(values)) + "**"]


def cpu_s() -> float:
    """CPU seconds of this process so far (user + system): a training cost that a busy machine does not inflate."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def echopv(argv: list[str]) -> float:
    """Run an `echopv` command in this process; returns its CPU seconds."""
    from echo_paraview.cli import main

    print("$ echopv " + " ".join(argv), flush=True)
    c0 = cpu_s()
    if main(argv):
        raise SystemExit(f"echopv {' '.join(argv[:2])} failed")
    return cpu_s() - c0


def cosine_lr(peak: float, k: int, total: int, floor: float = 1e-6) -> float:
    """Cosine schedule from `peak` at step 0 to `floor` at step `total` (the peers' schedule)."""
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, k / total)))


def cosine_step(opt, loss, peak: float, k: int, total: int) -> float:
    """One optimiser step on `loss` at step k of `total` of the cosine schedule; returns the loss."""
    for g in opt.param_groups:
        g["lr"] = cosine_lr(peak, k, total)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


@dataclass
class BudgetRun:
    cpu_s: float
    steps: int
    planned_steps: int
    loss_tail: float  # mean loss of the last 100 steps


def train_to_budget(step: Callable[[int, int], float], budget_cpu_s: float, log: Callable[[str], None] = print,
                    probe: int = 20, log_every: int = 250) -> BudgetRun:
    """Run `step(total, k)` (returns the loss) until `budget_cpu_s` of this process's CPU time is spent; the
    schedule's length `total` comes from timing `probe` steps first (run with total = 10**9, k = 0)."""
    import numpy as np

    c0, losses = time.process_time(), []
    for _ in range(probe):
        step(10**9, 0)
    per_step = (time.process_time() - c0) / probe
    total = max(probe + 1, int(budget_cpu_s / per_step))
    log(f"{per_step:.3f} CPU-s per step -> {total} steps for {budget_cpu_s:.0f} CPU-s")
    k = probe
    while k < total and time.process_time() - c0 < budget_cpu_s:
        losses.append(step(total, k))
        k += 1
        if k % log_every == 0:
            log(f"step {k}/{total} loss {np.mean(losses[-log_every:]):.3e} cpu {time.process_time() - c0:.0f} s")
    return BudgetRun(time.process_time() - c0, k, total, float(np.mean(losses[-100:])) if losses else float("nan"))
