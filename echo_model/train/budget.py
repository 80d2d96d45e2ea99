"""Step counts for a stated CPU budget (`echopv train all --budget-minutes M`).

The cost of a step depends on the mesh (points x window frames for the autoencoder) and the latent
(tokens for the DiT), so it is measured, not guessed: a few autoencoder steps on the dataset's own
windows and a few DiT steps on a latent of the shape the autoencoder will produce, timed in process
CPU seconds. The budget is then split: `AE_SHARE` to the autoencoder (its reconstruction is the
ceiling of every forecast), the rest, less a reserve for caching the latents and the skill report,
to the DiT.

Example
-------
>>> plan = BudgetPlan(minutes=15, ae_step_s=1.0, dit_step_s=0.1, reserve_s=60)
>>> plan.ae_steps, plan.dit_steps
(378, 4620)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..errors import EchoUserError

AE_SHARE = 0.45
MIN_AE_STEPS, MIN_DIT_STEPS = 50, 200


@dataclass(frozen=True)
class BudgetPlan:
    """Step counts that fit `minutes` of CPU at the measured step costs."""

    minutes: float
    ae_step_s: float
    dit_step_s: float
    reserve_s: float

    @property
    def _usable_s(self) -> float:
        return max(0.0, 60.0 * self.minutes - self.reserve_s)

    @property
    def ae_steps(self) -> int:
        return max(MIN_AE_STEPS, int(AE_SHARE * self._usable_s / self.ae_step_s))

    @property
    def dit_steps(self) -> int:
        return max(MIN_DIT_STEPS, int((1 - AE_SHARE) * self._usable_s / self.dit_step_s))

    def text(self) -> str:
        return (f"budget {self.minutes:g} CPU-min: autoencoder {self.ae_step_s:.3g} CPU-s/step -> {self.ae_steps} "
                f"steps, DiT {self.dit_step_s:.3g} CPU-s/step -> {self.dit_steps} steps "
                f"({self.reserve_s:.0f} s kept for caching the latents and the skill report)")


def _cpu_per_step(step, n: int) -> float:
    step(0)  # warm-up: first-call allocations and kernel selection
    t0 = time.process_time()
    for k in range(1, n + 1):
        step(k)
    return (time.process_time() - t0) / n


def measure_ae_step(run, frames: int, n: int = 3) -> tuple[float, tuple[int, ...]]:
    """(CPU-s per autoencoder step, latent shape of a window) for the pipeline run `run`."""
    from ..data.store import TrajectoryStore
    from ..data.windows import WindowSampler
    from .runs import AutoencoderRun
    from .stage_ae import ae_step, build_autoencoder

    torch.manual_seed(0)
    ae_cfg = AutoencoderRun(data=run.data, run=str(run.run), preset=run.preset, frames=frames, n_query=run.n_query,
                            batch_size=run.ae_batch_size, grid=run.grid, latent_dim=run.latent_dim, resume=False)
    with TrajectoryStore(run.data) as store:
        model = build_autoencoder(ae_cfg, store.info)
        sampler = WindowSampler(store, split="train", n_frames=frames, n_query=run.n_query, seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(k: int) -> None:
            loss = ae_step(model, sampler.batch(k, run.ae_batch_size))
            opt.zero_grad()
            loss.backward()
            opt.step()

        return _cpu_per_step(step, n), tuple(model.config.latent_shape(frames))


def measure_dit_step(run, latent_shape: tuple[int, ...], n: int = 5) -> float:
    """CPU-s per DiT step on random latents of the autoencoder's shape."""
    from .runs import GeneratorRun
    from .stage_dit import build_generator, flow_step, make_batch_fn

    latents = torch.randn((max(8, run.dit_batch_size),) + tuple(latent_shape))
    gen_cfg = GeneratorRun(cache="(calibration)", ae="(calibration)", run=str(run.run) + "/(calibration)",
                           preset=run.preset, resume=False)
    model = build_generator(gen_cfg, latents, 0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    get_batch = make_batch_fn(latents, None, run.dit_batch_size, 0, "flow", 1)

    def step(k: int) -> None:
        loss = flow_step(model, get_batch(k))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _cpu_per_step(step, n)


def plan_budget(run, frames: int) -> BudgetPlan:
    """Measure both step costs for `run` (a PipelineRun) and plan `run.budget_minutes`."""
    if not math.isfinite(run.budget_minutes) or run.budget_minutes <= 0:
        raise EchoUserError(f"--budget-minutes {run.budget_minutes}: give a positive number of CPU minutes")
    ae_s, latent = measure_ae_step(run, frames)
    dit_s = measure_dit_step(run, latent)
    # cache-latents encodes each window once and the skill report runs a few rollouts (~40 autoencoder
    # steps together on the runs measured); refinement steps decode twice as many points as a step
    reserve = 40 * ae_s + 2 * run.refine_steps * ae_s
    plan = BudgetPlan(minutes=float(run.budget_minutes), ae_step_s=ae_s, dit_step_s=dit_s, reserve_s=reserve)
    if 60 * run.budget_minutes < reserve + MIN_AE_STEPS * ae_s + MIN_DIT_STEPS * dit_s:
        raise EchoUserError(f"--budget-minutes {run.budget_minutes:g} is too small for this dataset: "
                            f"{MIN_AE_STEPS} autoencoder steps ({ae_s:.2g} CPU-s each) and {MIN_DIT_STEPS} DiT steps "
                            f"({dit_s:.2g} each) need about "
                            f"{(reserve + MIN_AE_STEPS * ae_s + MIN_DIT_STEPS * dit_s) / 60:.1f} CPU-min")
    return plan
