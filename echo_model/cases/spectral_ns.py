"""Pseudo-spectral incompressible Navier–Stokes on periodic unit boxes, batched, in torch.

2D: vorticity form, FNO's set-up (Li et al. 2021):
    w_t + u . grad w = nu lap w + f,   u = (d_y psi, -d_x psi),   -lap psi = w,
    f = A (sin 2pi(x+y) + cos 2pi(x+y)) with A = 0.1.
3D: velocity form in rotational (Lamb) form with Leray projection:
    u_t = P[u x omega] + nu lap u + P f,   div u = 0.

Both use rfft, 2/3-rule dealiasing of the nonlinear term (a mode is kept when every
|integer wavenumber| < n/3, so products of kept modes never alias onto kept modes and the
truncated system conserves energy exactly), and one of two time integrators:
    "cn_heun": Crank–Nicolson diffusion + Heun (RK2) advection (FNO's scheme, corrected so the
               predictor takes the full advection term). Heun is weakly unstable for purely
               imaginary eigenvalues, so keep CFL <= 0.1 at low viscosity.
    "ifrk4":   integrating-factor RK4: diffusion exact, RK4 advection (stable to CFL ~ 2.8/pi).
The time step is CFL-adaptive per trajectory, dt = min(dt_max, cfl dx / max|u|), and shrunk
uniformly so every trajectory lands exactly on each requested output time.

Array layout: spatial axes are [..., i_x, i_y(, i_z)], grid point i at x = i / n. Use
`to_points_order` to flatten into VTK order (x fastest), matching `grid_points`.

Initial conditions are drawn per trajectory from numpy generators in spectral space on a fixed
band of modes, so the same (seed, index) gives the same initial field at every resolution
(only truncated): a 128^2 run is a faithful 2x-resolution twin of the 64^2 one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..celltypes import CellType
from ..device import resolve_device
from ..errors import EchoUserError

TWO_PI = 2.0 * math.pi
SCHEMES = ("cn_heun", "ifrk4")
# Initial-condition modes are drawn on |k|_inf <= this band whatever the grid (see module doc).
GRF_MAX_MODE = 256
RANDOM3D_MAX_MODE = 8


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        out = dtype
    else:
        out = {"float32": torch.float32, "float64": torch.float64, "f32": torch.float32, "f64": torch.float64}.get(
            str(dtype)
        )
    if out not in (torch.float32, torch.float64):
        raise EchoUserError(f"dtype must be float32 or float64, got {dtype!r}")
    return out


class SpectralGrid:
    """Wavenumbers, dealiasing mask and FFTs of an n^d periodic grid on the unit box."""

    def __init__(self, n: int, dim: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        if dim not in (2, 3):
            raise EchoUserError(f"dim must be 2 or 3, got {dim}")
        if n < 8 or n % 2:
            raise EchoUserError(f"resolution must be even and >= 8, got {n}")
        self.n, self.dim = int(n), int(dim)
        self.device = torch.device(device)
        self.dtype = parse_dtype(dtype)
        self.spatial = (self.n,) * dim
        self.axes = tuple(range(-dim, 0))
        ints = [torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)] * (dim - 1)
        ints.append(torch.fft.rfftfreq(n, 1.0 / n, dtype=torch.float64))
        k_int = []
        for axis, k in enumerate(ints):
            shape = [1] * dim
            shape[axis] = k.shape[0]
            k_int.append(k.reshape(shape))
        mask = torch.ones((), dtype=torch.bool)
        for k in k_int:
            mask = mask & (k.abs() < n / 3.0)
        self.mask = mask.to(self.device)
        self.k = [(TWO_PI * k).to(self.device, self.dtype) for k in k_int]
        k2 = sum(TWO_PI**2 * k * k for k in k_int)
        self.k2 = k2.to(self.device, self.dtype)
        self.inv_k2 = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0).to(self.device, self.dtype)

    @property
    def dx(self) -> float:
        return 1.0 / self.n

    def fft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(x, dim=self.axes)

    def ifft(self, x_hat: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(x_hat, s=self.spatial, dim=self.axes)

    def coords(self) -> list[torch.Tensor]:
        """Coordinate arrays x, y(, z), each of shape (n,)*dim, in [i_x, i_y, i_z] layout."""
        x = torch.arange(self.n, dtype=torch.float64) / self.n
        return [c.to(self.device, self.dtype) for c in torch.meshgrid(*([x] * self.dim), indexing="ij")]


# --------------------------------------------------------------------------------------------
# grid <-> point-set helpers (VTK order: x fastest)
# --------------------------------------------------------------------------------------------
def grid_points(n: int, dim: int) -> np.ndarray:
    """(n^dim, dim) coordinates i/n in VTK order (x fastest)."""
    x = np.arange(n, dtype=np.float64) / n
    mesh = np.meshgrid(*([x] * dim), indexing="ij")  # [a0, a1, ...] with a0 slowest
    # reversed so that the last meshgrid axis (fastest) is x
    return np.stack([m.reshape(-1) for m in reversed(mesh)], axis=1)


def to_points_order(field: torch.Tensor | np.ndarray, dim: int) -> np.ndarray:
    """[..., i_x, i_y(, i_z)] -> [..., n^dim] flattened with x fastest."""
    arr = field.detach().cpu().numpy() if isinstance(field, torch.Tensor) else np.asarray(field)
    lead = arr.ndim - dim
    perm = list(range(lead)) + list(reversed(range(lead, arr.ndim)))
    return np.ascontiguousarray(arr.transpose(perm)).reshape(arr.shape[:lead] + (-1,))


def grid_cells(n: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VTK quads (2D) or hexahedra (3D) between neighbouring grid points.

    The periodic wrap-around cells are left out: they would span the whole box on screen.
    Returns (connectivity, offsets, types) in VTK >= 9 layout for `Cells`.
    """
    idx = np.arange(n**dim, dtype=np.int64).reshape((n,) * dim)  # [.., j, i] with i = x fastest
    if dim == 2:
        a = idx[:-1, :-1]  # (j, i)
        corners = [a, a + 1, a + 1 + n, a + n]
        vtk_type = CellType.QUAD
    else:
        a = idx[:-1, :-1, :-1]  # (k, j, i)
        s = n * n
        corners = [a, a + 1, a + 1 + n, a + n, a + s, a + s + 1, a + s + 1 + n, a + s + n]
        vtk_type = CellType.HEXAHEDRON
    conn = np.stack([c.reshape(-1) for c in corners], axis=1)
    n_cells, per = conn.shape
    offsets = np.arange(n_cells + 1, dtype=np.int64) * per
    types = np.full(n_cells, vtk_type, dtype=np.uint8)
    return conn.reshape(-1), offsets, types


# --------------------------------------------------------------------------------------------
# random initial conditions (resolution independent, seeded per trajectory)
# --------------------------------------------------------------------------------------------
def _hermitian_block(rng: np.random.Generator, m: int, dim: int, extra: tuple[int, ...] = ()) -> np.ndarray:
    """Complex Gaussian coefficients on k in [-m, m]^dim with Z(-k) = conj Z(k), E|Z|^2 = 1, Z(0) = 0."""
    shape = extra + (2 * m + 1,) * dim
    z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2.0)
    flip = tuple(range(len(extra), len(shape)))
    z = (z + np.conj(np.flip(z, axis=flip))) / math.sqrt(2.0)
    z[(Ellipsis,) + (m,) * dim] = 0.0
    return z


def _block_to_rfft(block: np.ndarray, m: int, n: int, dim: int) -> np.ndarray:
    """Place a centred [-m, m]^dim block into an rfft array (n,)*(dim-1) + (n//2+1,), truncated."""
    kmax = min(m, n // 2 - 1)  # the Nyquist mode is left at zero
    lead = block.shape[: block.ndim - dim]
    out = np.zeros(lead + (n,) * (dim - 1) + (n // 2 + 1,), dtype=np.complex128)
    full = np.arange(-kmax, kmax + 1)
    src_full = full + m
    dst_full = full % n
    half = np.arange(0, kmax + 1)
    src = [src_full] * (dim - 1) + [half + m]
    dst = [dst_full] * (dim - 1) + [half]
    out[(Ellipsis,) + np.ix_(*dst)] = block[(Ellipsis,) + np.ix_(*src)]
    return out


def gaussian_random_vorticity(
    n: int, rng: np.random.Generator, alpha: float = 2.5, tau: float = 7.0, max_mode: int = GRF_MAX_MODE
) -> np.ndarray:
    """One sample of N(0, tau^(2 alpha - 2) (-lap + tau^2)^(-alpha)) on the unit square, zero mean.

    With alpha = 2.5, tau = 7 this is FNO's N(0, 7^(3/2) (-lap + 49)^(-2.5)), scaled exactly like
    FNO's GaussianRF (its sqrt_eig carries a sqrt(2) and it keeps the real part of a complex
    field): pointwise variance = 2 sum_k 7^3 (4 pi^2 |k|^2 + 49)^(-2.5), std ~ 0.30.
    Returns (n, n) float64 in [i_x, i_y].
    """
    m = max_mode
    z = _hermitian_block(rng, m, 2)
    k = np.arange(-m, m + 1)
    k2 = TWO_PI**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    sqrt_eig = math.sqrt(2.0) * tau ** (alpha - 1.0) * (k2 + tau**2) ** (-alpha / 2.0)
    coef = _block_to_rfft(z * sqrt_eig, m, n, 2) * (n * n)
    return np.fft.irfftn(coef, s=(n, n), axes=(0, 1))


def taylor_green_2d(n: int, k: int = 1, amplitude: float = 1.0) -> np.ndarray:
    """Vorticity of the 2D Taylor–Green vortex, w = A sin(2 pi k x) sin(2 pi k y) (an exact
    solution: u . grad w = 0), decaying as exp(-2 nu (2 pi k)^2 t). (n, n) in [i_x, i_y]."""
    x = np.arange(n) / n
    return amplitude * np.sin(TWO_PI * k * x)[:, None] * np.sin(TWO_PI * k * x)[None, :]


def taylor_green_3d(n: int, amplitude: float = 1.0) -> np.ndarray:
    """Velocity of the 3D Taylor–Green vortex on the unit cube, (3, n, n, n) in [c, i_x, i_y, i_z]:
    u = A sin X cos Y cos Z, v = -A cos X sin Y cos Z, w = 0 with X = 2 pi x."""
    x = np.arange(n) / n
    X, Y, Z = np.meshgrid(TWO_PI * x, TWO_PI * x, TWO_PI * x, indexing="ij")
    u = amplitude * np.sin(X) * np.cos(Y) * np.cos(Z)
    v = -amplitude * np.cos(X) * np.sin(Y) * np.cos(Z)
    return np.stack([u, v, np.zeros_like(u)])


def abc_flow_3d(n: int, a: float = 1.0, b: float = 0.7, c: float = 0.4) -> np.ndarray:
    """Arnold–Beltrami–Childress flow (curl u = 2 pi u, so u x omega = 0): with the full nonlinear
    term it decays exactly as exp(-nu (2 pi)^2 t). (3, n, n, n)."""
    x = np.arange(n) / n
    X, Y, Z = np.meshgrid(TWO_PI * x, TWO_PI * x, TWO_PI * x, indexing="ij")
    return np.stack(
        [a * np.sin(Z) + c * np.cos(Y), b * np.sin(X) + a * np.cos(Z), c * np.sin(Y) + b * np.cos(X)]
    )


def random_solenoidal_3d(
    n: int, rng: np.random.Generator, k_peak: float = 3.0, rms: float = 1.0, max_mode: int = RANDOM3D_MAX_MODE
) -> np.ndarray:
    """Divergence-free random velocity with energy spectrum ~ k^4 exp(-2 (k/k_peak)^2), scaled to
    the given rms per component. (3, n, n, n) in [c, i_x, i_y, i_z]."""
    m = max_mode
    z = _hermitian_block(rng, m, 3, extra=(3,))
    k = np.arange(-m, m + 1, dtype=np.float64)
    kx, ky, kz = np.meshgrid(k, k, k, indexing="ij")
    kk = np.stack([kx, ky, kz])
    k2 = (kk**2).sum(0)
    kmag = np.sqrt(k2)
    # E(k) ~ k^4 exp(-2(k/kp)^2) spread over a shell of area ~ k^2 -> |u_k|^2 ~ k^2 exp(...)
    amp = kmag * np.exp(-((kmag / k_peak) ** 2))
    z = z * amp
    # Leray projection keeps the Hermitian symmetry (k k^T is even in k)
    kdotz = (kk * z).sum(0)
    z = z - kk * np.where(k2 > 0, kdotz / np.where(k2 > 0, k2, 1.0), 0.0)
    coef = _block_to_rfft(z, m, n, 3) * n**3
    u = np.fft.irfftn(coef, s=(n, n, n), axes=(1, 2, 3))
    scale = rms / max(float(np.sqrt((u**2).mean())), 1e-300)
    return u * scale


# --------------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------------
@dataclass
class SolverSettings:
    resolution: int = 64
    dt_max: float = 1e-2
    cfl: float = 0.1
    scheme: str = "cn_heun"
    device: str = "cpu"
    dtype: str = "float32"
    forcing_amplitude: float = 0.1  # 2D: FNO forcing; 3D: amplitude of an optional Kolmogorov forcing

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise EchoUserError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if not 0 < self.cfl <= 1.0:
            raise EchoUserError(f"cfl must be in (0, 1], got {self.cfl}")
        if self.dt_max <= 0:
            raise EchoUserError(f"dt_max must be > 0, got {self.dt_max}")


class _SpectralSolver:
    """Shared time stepping; subclasses define the state layout and `rhs`."""

    dim: int = 2

    def __init__(self, settings: SolverSettings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = parse_dtype(settings.dtype)
        self.grid = SpectralGrid(settings.resolution, self.dim, self.device, self.dtype)
        self.n_steps = 0  # total steps taken (for benchmarks)

    # subclass API ------------------------------------------------------------------------
    def rhs(self, state_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dealiased nonlinear term + forcing in spectral space, and max |u| per trajectory."""
        raise NotImplementedError

    def _nu_shape(self, nu: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # time stepping -----------------------------------------------------------------------
    def _step(self, w: torch.Tensor, nu_b: torch.Tensor, dt: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        dt_b = self._nu_shape(dt.to(self.dtype))
        ld = -nu_b * self.grid.k2 * dt_b  # diffusion exponent per mode
        if self.settings.scheme == "cn_heun":
            a = 1.0 + 0.5 * ld
            b = 1.0 / (1.0 - 0.5 * ld)
            w1 = (a * w + dt_b * n0) * b
            n1, _ = self.rhs(w1)
            return (a * w + 0.5 * dt_b * (n0 + n1)) * b
        e = torch.exp(0.5 * ld)
        e2 = e * e
        k2_ = self.rhs(e * (w + 0.5 * dt_b * n0))[0]
        k3_ = self.rhs(e * w + 0.5 * dt_b * k2_)[0]
        k4_ = self.rhs(e2 * w + dt_b * e * k3_)[0]
        return e2 * w + dt_b / 6.0 * (e2 * n0 + 2.0 * e * (k2_ + k3_) + k4_)

    def advance(self, state_hat: torch.Tensor, nu: torch.Tensor, duration: float) -> torch.Tensor:
        """Integrate every trajectory by `duration`, with CFL-adaptive per-trajectory steps."""
        if duration <= 0:
            return state_hat
        batch = state_hat.shape[0]
        nu_b = self._nu_shape(nu.to(self.device, self.dtype))
        remaining = torch.full((batch,), float(duration), dtype=torch.float64, device=self.device)
        cfl_dx = self.settings.cfl * self.grid.dx
        while bool((remaining > 0).any()):
            n0, umax = self.rhs(state_hat)
            umax = umax.to(torch.float64)
            allowed = torch.where(umax > 0, cfl_dx / umax.clamp_min(1e-300), torch.full_like(umax, math.inf))
            allowed = allowed.clamp(max=self.settings.dt_max)
            # equal sub-steps up to the next output time: no tiny last step
            n_sub = torch.ceil(remaining / allowed * (1 - 1e-12)).clamp_min(1)
            dt = torch.where(remaining > 0, remaining / n_sub, torch.zeros_like(remaining))
            state_hat = self._step(state_hat, nu_b, dt, n0)
            remaining = torch.where(n_sub <= 1, torch.zeros_like(remaining), remaining - dt)
            self.n_steps += 1
        return state_hat

    def simulate_hat(
        self,
        state_hat: torch.Tensor,
        nu: torch.Tensor,
        times: Sequence[float],
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Advance from t = 0 and call callback(frame_index, state_hat) at each time in `times`."""
        t = 0.0
        for j, target in enumerate(times):
            if target < t - 1e-12:
                raise EchoUserError(f"output times must be increasing, got {list(times)}")
            state_hat = self.advance(state_hat, nu, target - t)
            t = float(target)
            if not bool(torch.isfinite(torch.view_as_real(state_hat)).all()):
                raise EchoUserError(
                    f"the spectral solver blew up before t = {t:g} (non-finite values): lower --cfl "
                    f"(now {self.settings.cfl}), raise --resolution, raise --nu-min or use --scheme ifrk4"
                )
            if callback is not None:
                callback(j, state_hat)
        return state_hat

    def simulate(
        self, state0: torch.Tensor | np.ndarray, nu: torch.Tensor | Sequence[float] | float, times: Sequence[float]
    ) -> torch.Tensor:
        """Physical fields (B, T, ...) at `times` (t = 0 is the initial state) from state0 (B, ...):
        vorticity (B, T, n, n) in 2D, velocity (B, T, 3, n, n, n) in 3D."""
        s_hat = self.to_hat(state0)
        nu_t = torch.as_tensor(nu, dtype=torch.float64).reshape(-1).expand(s_hat.shape[0])
        frames: list[torch.Tensor] = []
        self.simulate_hat(s_hat, nu_t, times, lambda j, s: frames.append(self.to_physical(s)))
        return torch.stack(frames, dim=1)


class VorticitySolver2D(_SpectralSolver):
    """2D vorticity form with FNO's forcing; state w_hat (B, n, n//2+1) complex."""

    dim = 2

    def __init__(self, settings: SolverSettings) -> None:
        super().__init__(settings)
        x, y = self.grid.coords()
        f = settings.forcing_amplitude * (torch.sin(TWO_PI * (x + y)) + torch.cos(TWO_PI * (x + y)))
        self.f_hat = self.grid.fft(f) * self.grid.mask

    def _nu_shape(self, nu: torch.Tensor) -> torch.Tensor:
        return nu.reshape(-1, 1, 1)

    def to_hat(self, w: torch.Tensor | np.ndarray) -> torch.Tensor:
        w = torch.as_tensor(np.asarray(w) if not isinstance(w, torch.Tensor) else w)
        w = w.to(self.device, self.dtype)
        if w.ndim == 2:
            w = w[None]
        return self.grid.fft(w) * self.grid.mask

    def to_physical(self, w_hat: torch.Tensor) -> torch.Tensor:
        return self.grid.ifft(w_hat)

    def velocity(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kx, ky = self.grid.k
        psi = w_hat * self.grid.inv_k2
        return self.grid.ifft(1j * ky * psi), self.grid.ifft(-1j * kx * psi)

    def rhs(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kx, ky = self.grid.k
        u, v = self.velocity(w_hat)
        wx = self.grid.ifft(1j * kx * w_hat)
        wy = self.grid.ifft(1j * ky * w_hat)
        adv = self.grid.fft(u * wx + v * wy) * self.grid.mask
        umax = torch.sqrt(u * u + v * v).amax(dim=(-2, -1))
        return self.f_hat - adv, umax



class VelocitySolver3D(_SpectralSolver):
    """3D velocity form u_t = P[u x omega] + nu lap u (+ P f); state u_hat (B, 3, n, n, n//2+1).

    forcing_amplitude > 0 adds a Kolmogorov forcing f = A sin(2 pi y) e_x (steady, divergence
    free) for forced turbulence; 0 (the default for decaying Taylor–Green) means none.
    """

    dim = 3

    def __init__(self, settings: SolverSettings) -> None:
        super().__init__(settings)
        x, y, z = self.grid.coords()
        f = torch.zeros((3,) + self.grid.spatial, dtype=self.dtype, device=self.device)
        if settings.forcing_amplitude:
            f[0] = settings.forcing_amplitude * torch.sin(TWO_PI * y)
        self.f_hat = self.grid.fft(f) * self.grid.mask

    def _nu_shape(self, nu: torch.Tensor) -> torch.Tensor:
        return nu.reshape(-1, 1, 1, 1, 1)

    def project(self, a_hat: torch.Tensor) -> torch.Tensor:
        kx, ky, kz = self.grid.k
        kdota = kx * a_hat[:, 0] + ky * a_hat[:, 1] + kz * a_hat[:, 2]
        phi = kdota * self.grid.inv_k2
        return torch.stack([a_hat[:, 0] - kx * phi, a_hat[:, 1] - ky * phi, a_hat[:, 2] - kz * phi], dim=1)

    def curl_hat(self, u_hat: torch.Tensor) -> torch.Tensor:
        kx, ky, kz = self.grid.k
        ux, uy, uz = u_hat[:, 0], u_hat[:, 1], u_hat[:, 2]
        return 1j * torch.stack([ky * uz - kz * uy, kz * ux - kx * uz, kx * uy - ky * ux], dim=1)

    def to_hat(self, u: torch.Tensor | np.ndarray) -> torch.Tensor:
        u = torch.as_tensor(np.asarray(u) if not isinstance(u, torch.Tensor) else u)
        u = u.to(self.device, self.dtype)
        if u.ndim == 4:
            u = u[None]
        return self.project(self.grid.fft(u) * self.grid.mask)

    def to_physical(self, u_hat: torch.Tensor) -> torch.Tensor:
        return self.grid.ifft(u_hat)

    def vorticity(self, u_hat: torch.Tensor) -> torch.Tensor:
        return self.grid.ifft(self.curl_hat(u_hat))

    def rhs(self, u_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.grid.ifft(u_hat)
        w = self.grid.ifft(self.curl_hat(u_hat))
        lamb = torch.linalg.cross(u, w, dim=1)
        n_hat = self.project(self.grid.fft(lamb) * self.grid.mask) + self.f_hat
        umax = torch.sqrt((u * u).sum(1)).amax(dim=(-3, -2, -1))
        return n_hat, umax



# --------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------
def energy_3d(u: torch.Tensor) -> torch.Tensor:
    """0.5 <|u|^2> per trajectory for u (B, 3, n, n, n)."""
    return 0.5 * (u * u).sum(1).mean(dim=(-3, -2, -1))


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    if lo <= 0 or hi < lo:
        raise EchoUserError(f"viscosity range must satisfy 0 < nu_min <= nu_max, got [{lo}, {hi}]")
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def trajectory_rng(seed: int, index: int) -> np.random.Generator:
    """One independent generator per (seed, trajectory index): results do not depend on batching."""
    return np.random.default_rng([int(seed), int(index)])
