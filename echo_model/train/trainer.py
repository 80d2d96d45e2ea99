"""The one training loop every stage reuses (autoencoder stages 1-2, generator stage 3, baselines).

    trainer = Trainer(model, run_dir, TrainConfig(steps=..., lr=...), model_prefix="autoencoder",
                      meta={"kind": ..., "autoencoder": cfg.to_dict(), "stats": ..., ...})
    trainer.fit(step_fn, get_batch)      # step_fn(model, batch) -> loss | (loss, {name: float})
                                         # get_batch(step) -> batch (any nest of tensors/dicts/lists)

* Device: CUDA if present (else CPU), or TrainConfig.device; the batch is moved there for you.
  bf16 autocast on CUDA (TrainConfig.amp), float32 on CPU.
* Data parallel under `torchrun` (WORLD_SIZE > 1, init from env vars, NCCL on CUDA / gloo on CPU):
  parameters are broadcast from rank 0 at start and gradients are averaged by all_reduce after
  backward - DDP semantics without DDP's wrapper, so step_fn may call any method of the model
  (encode/decode...), not only forward. get_batch receives the global step; it should draw a
  distinct shard per rank using `trainer.rank` / `trainer.world_size` (the AE stages seed their
  sampler with (seed, step, rank)). Only rank 0 writes files and shows the bar.
* AdamW, linear warm-up then cosine decay to min_lr; gradient clipping by global norm.
* Files in run_dir (the one format, echo_model/bundle.py):
    checkpoint.safetensors  every ckpt_every steps and at the end: weights (under model_prefix, so a
                            checkpoint also loads as a model file) + optimizer state (flatten_state)
                            + header {**meta, "checkpoint": {step, optimizer skeleton, train config}}
    <output>                at the end: inference-only weights + meta (no optimizer); the stage names it
                            (layout.AUTOENCODER / layout.GENERATOR)
    progress.json           {stage, step, total, loss, loss_avg, lr, elapsed_s, eta_s, status} for watchers
* One trainer per run directory: rank 0 holds RUN/train.lock (train/lock.py) from construction to
  the end of fit(); a second trainer on the same directory refuses with the first one's pid.
* A run whose loss was never finite or whose weights became NaN writes no model (EchoUserError).
* Resume: if run_dir/checkpoint.safetensors exists (and resume=True) weights, optimizer and step are
  restored and training continues; data is a function of the step, so a resumed run sees the same
  batches as an uninterrupted one.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..bundle import flatten_state, load_tensors, prefixed, save_tensors, unflatten_state, unprefixed
from ..errors import EchoUserError
from ..device import resolve_device
from .layout import CHECKPOINT, MODEL, PROGRESS, write_json_atomic
from .lock import RunLock


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 50  # steps of linear warm-up
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0  # 0 = off
    ckpt_every: int = 200  # steps; 0 = only at the end
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1" ...
    amp: bool = True  # bf16 autocast on CUDA
    progress_bar: bool = True
    stage: str = "train"  # a name for progress.json / the bar

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


STOP_GRACE_ENV = "ECHOPV_STOP_GRACE_S"


def stop_grace_s() -> float:
    """Seconds a stop request waits for the step boundary before it acts at once (ECHOPV_STOP_GRACE_S, 30)."""
    try:
        return max(0.0, float(os.environ.get(STOP_GRACE_ENV, "30")))
    except ValueError:
        return 30.0


def _finite_or_none(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine to cfg.min_lr at cfg.steps."""
    if cfg.warmup > 0 and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    frac = min(1.0, (step - cfg.warmup) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


class Trainer:
    def __init__(self, model: nn.Module, run_dir: str | os.PathLike, cfg: TrainConfig, *,
                 model_prefix: str = "model", meta: dict[str, Any] | None = None, resume: bool = True,
                 params: list[nn.Parameter] | None = None, output: str = MODEL) -> None:
        if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, int) or cfg.steps < 1:
            raise EchoUserError(f"{cfg.stage}: --steps {cfg.steps!r} must be a whole number >= 1: a run of no "
                                "steps would write an untrained model; give the optimisation steps to train")
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.model_prefix = model_prefix
        self.output = self.run_dir / output  # the inference file written at the end (layout.py names)
        self.meta = dict(meta or {})
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device)
        if self.world_size > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        torch.manual_seed(cfg.seed)
        self.model = model.to(self.device)
        trainable = params if params is not None else [p for p in self.model.parameters() if p.requires_grad]
        self.params = trainable
        self.optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                           weight_decay=cfg.weight_decay)
        self.step = 0
        self.last_loss: float | None = None  # of the last step trained (restored from the checkpoint on resume)
        self.last_loss_avg: float | None = None
        self._stop_requested = False
        self.is_main = self.rank == 0
        # one trainer per run directory (rank 0 writes the files, so rank 0 holds the lock)
        self.lock = RunLock(self.run_dir).acquire() if self.is_main else None
        try:
            if resume and (self.run_dir / CHECKPOINT).exists():
                self._load_checkpoint(self.run_dir / CHECKPOINT)
            if self.world_size > 1:
                self._broadcast_params()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run directory (fit() does it when it ends, however it ends)."""
        if self.lock is not None:
            self.lock.release()

    # --- checkpoints -------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return prefixed(self.model.state_dict(), self.model_prefix)

    def save_checkpoint(self) -> Path | None:
        if not self.is_main:
            return None
        opt_tensors, skeleton = flatten_state(self.optimizer.state_dict(), "optimizer")
        meta = {**self.meta, "checkpoint": {"step": self.step, "optimizer": skeleton,
                                            "train_config": self.cfg.to_dict(), "loss": self.last_loss,
                                            "loss_avg": self.last_loss_avg}}
        return save_tensors(self.run_dir / CHECKPOINT, {**self._state_tensors(), **opt_tensors}, meta)

    def save_model(self, path: str | os.PathLike | None = None) -> Path | None:
        if not self.is_main:
            return None
        meta = {**self.meta, "training": {"step": self.step, "train_config": self.cfg.to_dict()}}
        return save_tensors(path or self.output, self._state_tensors(), meta)

    def _load_checkpoint(self, path: Path) -> None:
        tensors, meta = load_tensors(path, device=self.device)
        info = meta.get("checkpoint")
        if info is None:
            raise EchoUserError(f"{path} is a model file, not a training checkpoint; delete it or use another --run")
        state = unprefixed(tensors, self.model_prefix)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise EchoUserError(f"checkpoint {path} does not fit this model (missing {missing[:3]}, unexpected "
                             f"{unexpected[:3]}): it was written with another config; use a new --run directory")
        self.optimizer.load_state_dict(unflatten_state(info["optimizer"], tensors))
        self.step = int(info["step"])
        self.last_loss, self.last_loss_avg = _finite_or_none(info.get("loss")), _finite_or_none(info.get("loss_avg"))

    def _broadcast_params(self) -> None:
        import torch.distributed as dist

        for t in list(self.model.parameters()) + list(self.model.buffers()):
            dist.broadcast(t.data, src=0)

    def _average_grads(self) -> None:
        import torch.distributed as dist

        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        i = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[i : i + n].view_as(g))
            i += n

    # --- loop --------------------------------------------------------------------------------
    def _progress(self, loss: float, avg: float, lr: float, t0: float, s0: int, status: str) -> None:
        if not self.is_main:
            return
        elapsed = time.time() - t0
        done = self.step - s0
        eta = elapsed / done * (self.cfg.steps - self.step) if done > 0 else None
        write_json_atomic(self.run_dir / PROGRESS, {
            "stage": self.cfg.stage, "step": self.step, "total": self.cfg.steps, "loss": loss, "loss_avg": avg,
            "lr": lr, "elapsed_s": round(elapsed, 2), "eta_s": None if eta is None else round(eta, 2),
            "status": status, "time": time.time()})

    def fit(self, step_fn: Callable[[nn.Module, Any], Any], get_batch: Callable[[int], Any]) -> dict[str, Any]:
        try:
            return self._fit(step_fn, get_batch)
        finally:
            self.close()

    def _require_finite_result(self, s0: int, history: list[float]) -> None:
        """A run whose every step was skipped (non-finite loss) or whose weights are NaN writes no model."""
        if self.step > s0 and not history:
            raise EchoUserError(
                f"{self.cfg.stage}: the loss was NaN/Inf at every step ({s0}..{self.step}): no model was written. "
                "Check the dataset for NaN values (`echopv info`) and lower --lr")
        bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise EchoUserError(f"{self.cfg.stage}: weights {bad[:3]} became NaN/Inf: no model was written; "
                                "lower --lr or --grad-clip and start a new run directory")

    @contextmanager
    def _stop_at_step_boundary(self) -> Iterator[None]:
        """SIGTERM/SIGINT (EchoTrain's Stop, Ctrl-C) end fit() at the next step boundary with a checkpoint,
        so Start resumes without losing steps; a second signal acts at once, and so does the first one
        when no step boundary comes within `stop_grace_s()` (a step that never ends must not make the
        signal be ignored: the signal is delivered again to the handler that was there before)."""
        self._stop_requested = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old: dict[int, Any] = {}
        timers: list[threading.Timer] = []

        def request_stop(signum, frame) -> None:
            self._stop_requested = True
            for sig, handler in old.items():
                signal.signal(sig, handler)
            timer = threading.Timer(stop_grace_s(), os.kill, args=(os.getpid(), signum))
            timer.daemon = True
            timer.start()
            timers.append(timer)

        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for timer in timers:
                timer.cancel()
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _rank_weight_spread(self) -> float:
        """Largest |w - w_rank0| over all weights and ranks: 0.0 when data parallelism kept ranks in sync."""
        import torch.distributed as dist

        flat = torch.cat([p.detach().reshape(-1).float() for p in self.model.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, src=0)
        diff = (flat - ref).abs().max()
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        return float(diff)

    def _fit(self, step_fn: Callable[[nn.Module, Any], Any], get_batch: Callable[[int], Any]) -> dict[str, Any]:
        cfg = self.cfg
        use_amp = cfg.amp and self.device.type == "cuda"
        self.model.train()
        t0, s0 = time.time(), self.step
        bar = None
        if self.is_main and cfg.progress_bar and self.step < cfg.steps:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc=cfg.stage, unit="step", mininterval=1.0, dynamic_ncols=True)
        history: list[float] = []
        with self._stop_at_step_boundary():
            loss_val, avg, lr = self._loop(step_fn, get_batch, bar, t0, s0, history)
        if bar is not None:
            bar.close()
        self._require_finite_result(s0, history)
        if not history:  # a resume of a finished run trained nothing: report the loss it ended with, never NaN
            loss_val, avg, lr = self.last_loss, self.last_loss_avg, lr_at(max(0, self.step - 1), cfg)
        if self.world_size > 1:
            spread = self._rank_weight_spread()
            self.meta["data_parallel"] = {"world_size": self.world_size, "max_weight_diff_between_ranks": spread}
        self.save_checkpoint()
        self.save_model()
        self._progress(loss_val, avg, lr, t0, s0, "done")
        self.model.eval()
        return {"step": self.step, "loss": float("nan") if loss_val is None else loss_val, "loss_avg": avg,
                "history": history, "wall_s": time.time() - t0}

    def _loop(self, step_fn, get_batch, bar, t0: float, s0: int, history: list[float]) -> tuple[float, Any, float]:
        """The optimisation steps; returns (last loss, running average, last lr)."""
        cfg = self.cfg
        use_amp = cfg.amp and self.device.type == "cuda"
        avg, loss_val, lr, bad = None, float("nan"), cfg.lr, 0
        last_report = t0
        while self.step < cfg.steps:
            if self._stop_requested:  # between two steps: the checkpoint is exactly this step's state
                self.save_checkpoint()
                raise KeyboardInterrupt(f"stopped at step {self.step}; run the same command again to resume")
            lr = lr_at(self.step, cfg)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            batch = to_device(get_batch(self.step), self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = step_fn(self.model, batch)
            loss, logs = (out if isinstance(out, tuple) else (out, {}))
            self.optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                bad += 1
                if bad >= 10:
                    raise EchoUserError(f"loss is not finite for 10 steps in a row at step {self.step}: "
                                     "lower --lr or check the data normalisation")
                self.step += 1
                continue
            bad = 0
            loss.backward()
            if self.world_size > 1:
                self._average_grads()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
            self.optimizer.step()
            self.step += 1
            loss_val = float(loss.detach())
            avg = loss_val if avg is None else 0.95 * avg + 0.05 * loss_val
            self.last_loss, self.last_loss_avg = loss_val, avg
            history.append(loss_val)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_val:.3e}", avg=f"{avg:.3e}", lr=f"{lr:.1e}",
                                **{k: f"{float(v):.3e}" for k, v in logs.items()})
            # every 10 steps, and at least once a second for slow steps: watchers (EchoTrain's
            # Refresh) must not lag behind the log by minutes on million-point frames
            if self.is_main and (self.step % 10 == 0 or self.step == cfg.steps or time.time() - last_report > 1.0):
                self._progress(loss_val, avg, lr, t0, s0, "running")
                last_report = time.time()
            if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                self.save_checkpoint()
        return loss_val, avg, lr
