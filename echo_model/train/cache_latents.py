"""Encode a dataset's trajectory windows once with the frozen autoencoder (stage 3, step 1).

Every window of `--frames` frames (default: the autoencoder's training window, 1 + f k) taken
every `--window-stride` frames of every trajectory of `--split` is encoded from ALL its points
and stored raw (not normalised) in one HDF5 file; `echopv train dit|baseline` then trains on the
file without touching the autoencoder again.

Latent cache layout (format "echo-latents", version 1):
    /latents (W, D, T_l, *S_l) float32    /params (W, P) float32 raw PDE parameters
    /traj (W,) int64, /start (W,) int64   where each window comes from
    attrs: format, format_version, autoencoder (path), autoencoder_header (JSON: the AE file's
           header without weights), dataset, split, n_frames, frame_stride, window_stride,
           time_factor, dt (of the window frames), param_names (JSON), field_layout (JSON)

Example:  echopv cache-latents --ae runs/ae/autoencoder.safetensors --data d.h5 --out runs/latents.h5
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..bundle import file_sha256
from ..data.normalize import ChannelStats, Domain
from ..disk_space import require_space
from ..errors import EchoUserError
from ..stale_temps import remove_stale_temps
from .runs import CacheLatentsRun, add_arguments_from, apply_threads, from_namespace

FORMAT = "echo-latents"
FORMAT_VERSION = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments_from(p, CacheLatentsRun)


def window_starts(n_frames_traj: int, span: int, stride: int) -> list[int]:
    return list(range(0, n_frames_traj - span + 1, max(1, stride)))


class _Windows:
    """Normalised windows of a store's trajectories on device; the current trajectory is kept
    (jobs are grouped by trajectory, so each trajectory is read once)."""

    def __init__(self, store, stats, domain, span: int, frame_stride: int, dev) -> None:
        self.store, self.stats, self.domain = store, stats, domain
        self.span, self.stride, self.dev = span, frame_stride, dev
        self.traj, self.pts, self.fields = None, None, None

    def __call__(self, traj: int, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        if traj != self.traj:
            self.traj = traj
            self.pts = torch.as_tensor(self.domain.to_unit(self.store.points(traj)), device=self.dev)
            self.fields = self.stats.normalize(self.store.read_fields(traj))
        win = self.fields[start : start + self.span : self.stride]
        return self.pts, torch.as_tensor(win, device=self.dev)


def _encode(ae, windows: list[tuple[torch.Tensor, torch.Tensor]], chunk_size: int) -> np.ndarray:
    """Latents of a batch of (points, window); one encode call when the point sets have one size."""
    with torch.no_grad():
        if len({p.shape[0] for p, _ in windows}) == 1:
            z = ae.encode(torch.stack([p for p, _ in windows]), torch.stack([v for _, v in windows]),
                          chunk_size=chunk_size)
        else:
            z = torch.cat([ae.encode(p[None], v[None], chunk_size=chunk_size) for p, v in windows])
    return z.float().cpu().numpy()


def _jobs(store, split: str, span: int, window_stride: int, what: str, data_path) -> list[tuple[int, int]]:
    """(trajectory, first frame) of every window of the split."""
    idx = np.arange(len(store)) if split == "all" else store.split_indices(split)
    jobs = [(int(i), s) for i in idx for s in window_starts(store.n_frames(int(i)), span, window_stride)]
    if not jobs:
        raise EchoUserError(f"no window of {what} fits the {split!r} trajectories of {data_path}; use fewer "
                            "--frames or another --split")
    return jobs


def _frozen_autoencoder(ae_path, device: str, chunk_size: int | None):
    """(autoencoder without gradients, its header, the device, the continuous-convolution chunk)."""
    from ..device import resolve_device
    from ..memory import auto_chunk_size
    from ..nn.autoencoder import load_autoencoder

    dev = resolve_device(device)
    chunk_size = int(chunk_size or auto_chunk_size())  # bounded memory at any point count (same latents)
    ae, ae_meta = load_autoencoder(ae_path, device=dev)
    ae.requires_grad_(False)  # frozen: the cache is encoded once
    return ae, ae_meta, dev, chunk_size


def cache_latents(
    ae_path: str | os.PathLike,
    data_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    split: str = "train",
    n_frames: int | None = None,
    frame_stride: int = 1,
    window_stride: int = 1,
    batch_size: int = 4,
    chunk_size: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    import h5py

    from ..data.store import TrajectoryStore

    ae, ae_meta, dev, chunk_size = _frozen_autoencoder(ae_path, device, chunk_size)
    n_frames = int(n_frames or ae_meta.get("n_frames") or 1 + 4 * ae.time_factor)
    ae.latent_shape(n_frames)  # validates 1 + f k
    span = (n_frames - 1) * frame_stride + 1
    out_path = Path(out_path)
    with TrajectoryStore(data_path) as store:
        store.require_finite()
        layout, stats, domain = _autoencoder_normalisation(ae_meta, store.info)
        jobs = _jobs(store, split, span, window_stride, f"{n_frames} frames (stride {frame_stride})", data_path)
        names = sorted(store.params(jobs[0][0]))
        lat_shape = ae.latent_shape(n_frames)
        attrs = _cache_attrs(store, jobs, ae_path, data_path, ae_meta, layout, names, time_factor=ae.time_factor,
                             split=split, n_frames=n_frames, frame_stride=frame_stride, window_stride=window_stride)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out_path)  # what a killed earlier run left behind
        # HDF5 segfaults when a full disk stops it flushing: refuse up front (latents, params, indices)
        require_space(out_path.parent, len(jobs) * (4 * int(np.prod(lat_shape)) + 4 * len(names) + 16),
                      f"writing the latent cache {out_path} ({len(jobs)} windows)")
        bar = _progress_bar(len(jobs), progress)
        try:
            with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as h:
                lat = h.create_dataset("latents", shape=(len(jobs), *lat_shape), dtype="f4",
                                       chunks=(1, *lat_shape))
                windows = _Windows(store, stats, domain, span, frame_stride, dev)
                _encode_jobs(lat, ae, windows, jobs, batch_size, chunk_size, bar)
                _write_window_index(h, store, jobs, names)
                h.attrs.update(attrs)
        finally:
            if bar is not None:
                bar.close()
    return out_path


def _autoencoder_normalisation(ae_meta: dict, info) -> tuple[list[list], ChannelStats, Domain]:
    """(field layout, statistics, domain) the autoencoder was trained with; its fields must be the dataset's.

    The AE's own normalisation is used: it may differ from this dataset's statistics."""
    layout = [list(x) for x in ae_meta.get("field_layout", info.field_layout)]
    if [tuple(x) for x in layout] != list(info.field_layout):
        raise EchoUserError(f"autoencoder fields {layout} differ from the dataset's {info.field_layout}")
    stats = ChannelStats.from_dict(ae_meta["stats"]) if "stats" in ae_meta else info.stats
    domain = Domain.from_dict(ae_meta["domain"]) if "domain" in ae_meta else info.domain
    return layout, stats, domain


def _cache_attrs(store, jobs: list[tuple[int, int]], ae_path, data_path, ae_meta: dict, layout: list,
                 names: list[str], *, time_factor: int, split: str, n_frames: int, frame_stride: int,
                 window_stride: int) -> dict:
    """The cache file's attributes (layout in the module docstring), the window frames' dt among them."""
    t0 = store.times(jobs[0][0])
    dt = float(np.median(np.diff(t0))) * frame_stride if len(t0) > 1 else float(frame_stride)
    header = {k: v for k, v in ae_meta.items() if k not in ("checkpoint",)}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "autoencoder": str(Path(ae_path).resolve()),
            "autoencoder_sha256": file_sha256(ae_path),  # train dit and train all check it (stale caches)
            "autoencoder_header": json.dumps(header, default=str), "dataset": str(Path(data_path).resolve()),
            "split": split, "n_frames": n_frames, "frame_stride": frame_stride, "window_stride": window_stride,
            "time_factor": time_factor, "dt": dt, "param_names": json.dumps(names), "field_layout": json.dumps(layout),
            # frames of dt the longest training trajectory spans: a forecast beyond it meets later states
            "horizon_frames": max((store.n_frames(i) - 1) // frame_stride for i in {t for t, _ in jobs})}


def _progress_bar(total: int, progress: bool):
    """A tqdm bar over the windows, or None without --progress."""
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="cache-latents", unit="win")


def _encode_jobs(lat, ae, windows: _Windows, jobs: list[tuple[int, int]], batch_size: int, chunk_size: int,
                 bar) -> None:
    """Encode the windows batch by batch into the latents dataset `lat`, in job order."""
    for b0 in range(0, len(jobs), batch_size):
        batch = jobs[b0 : b0 + batch_size]
        lat[b0 : b0 + len(batch)] = _encode(ae, [windows(t, s) for t, s in batch], chunk_size)
        if bar is not None:
            bar.update(len(batch))


def _write_window_index(h, store, jobs: list[tuple[int, int]], names: list[str]) -> None:
    """Each window's raw PDE parameters (0 where a trajectory lacks one), trajectory and first frame."""
    prm = np.array([[float(store.params(t).get(n, 0.0)) for n in names] for t, _ in jobs],
                   dtype=np.float32).reshape(len(jobs), len(names))
    h.create_dataset("params", data=prm)
    h.create_dataset("traj", data=np.array([j[0] for j in jobs], dtype=np.int64))
    h.create_dataset("start", data=np.array([j[1] for j in jobs], dtype=np.int64))


class LatentCache:
    """The cache file loaded into memory (latents are small by design: x15-x200 compression)."""

    def __init__(self, path: str | os.PathLike) -> None:
        import h5py

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no latent cache at {path}: create it with `echopv cache-latents`")
        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != FORMAT:
                raise EchoUserError(f"{path} is not a latent cache (format {h.attrs.get('format')!r}): create it "
                                    "with `echopv cache-latents`")
            self.latents = torch.from_numpy(h["latents"][()])
            self.params = torch.from_numpy(h["params"][()])
            self.traj = h["traj"][()]
            self.start = h["start"][()]
            self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()}
        self.path = path
        self.param_names: list[str] = json.loads(self.attrs["param_names"])
        self.ae_header: dict = json.loads(self.attrs["autoencoder_header"])
        self.time_factor = int(self.attrs["time_factor"])
        self.dt = float(self.attrs["dt"])
        self.n_frames = int(self.attrs["n_frames"])
        horizon = self.attrs.get("horizon_frames")  # absent in caches written before it was recorded
        self.horizon_frames: int | None = None if horizon is None else int(horizon)

    def __len__(self) -> int:
        return int(self.latents.shape[0])

    @property
    def latent_frames(self) -> int:
        return int(self.latents.shape[2])

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-latent-channel mean/std over windows, frames and grid nodes."""
        z = self.latents.transpose(0, 1).reshape(self.latents.shape[1], -1).double()
        return z.mean(1).numpy(), z.std(1).clamp_min(1e-6).numpy()


def recorded_autoencoder(cache_path: str | os.PathLike) -> str | None:
    """The SHA-256 of the autoencoder file a cache was encoded with (None: a cache from before it was recorded)."""
    import h5py

    with h5py.File(cache_path, "r") as h:
        value = h.attrs.get("autoencoder_sha256")
    return None if value is None else str(value.decode() if isinstance(value, bytes) else value)


def check_cache_autoencoder(cache_path: str | os.PathLike, ae_path: str | os.PathLike) -> bool:
    """Refuse a latent cache encoded with another autoencoder than `ae_path`; False when it cannot tell.

    A cache from another autoencoder trains a generator on latents its decoder cannot read: the model
    file is written (exit 0) and every forecast is wrong.

    Raises
    ------
    EchoUserError
        Naming the cache, the autoencoder and the fix (encode the cache again).
    """
    recorded = recorded_autoencoder(cache_path)
    if recorded is None:
        return False
    if recorded != file_sha256(ae_path):
        raise EchoUserError(
            f"the latent cache {cache_path} was encoded with another autoencoder than {ae_path} (its recorded "
            f"SHA-256 {recorded[:12]}... differs): encode it again with `echopv cache-latents --ae {ae_path} --data "
            "DATASET --out CACHE`, or pass the autoencoder it was made with as --ae")
    return True


def cache_latents_run(cfg: CacheLatentsRun) -> Path:
    """`echopv cache-latents` as a function of its dataclass; returns the cache path."""
    apply_threads(cfg.threads)
    path = cache_latents(cfg.ae, cfg.data, cfg.out, split=cfg.split, n_frames=cfg.frames,
                         frame_stride=cfg.frame_stride, window_stride=cfg.window_stride,
                         batch_size=cfg.batch_size, chunk_size=cfg.chunk_size, device=cfg.device,
                         progress=cfg.progress)
    c = LatentCache(path)
    print(f"wrote {path}: {len(c)} windows, latents {tuple(c.latents.shape[1:])}, "
          f"{c.latents.numel() * 4 / 1e6:.1f} MB")
    return path


def run(args: argparse.Namespace) -> int:
    cache_latents_run(from_namespace(CacheLatentsRun, args))
    return 0
