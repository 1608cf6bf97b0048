"""Plots: Fock distributions, Wigner functions, homodyne histograms, critic maps; the samples
and the training dashboard (drawn by :mod:`qgan_lab.training.dashboard`) are found here too.

Matplotlib is imported inside each function, so ``import qgan_lab`` never needs it.
Taught in ``01_cv_circuits`` (states), ``03_measuring_cv_states`` (homodyne samples) and
``06_training_loop`` (dashboard).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# the run's figures live with the trainer that draws them; the notebooks find them here too
from ..training.dashboard import plot_samples, plot_training_dashboard


def reduced_density_matrix(ket: Any, mode: int) -> np.ndarray:
    """``rho`` of one mode from a single ket ``[c, ..., c]`` (or batched ``[1, c, ..., c]``)."""
    psi = np.asarray(ket)
    if psi.shape[0] == 1:  # cutoff >= 2, so a leading axis of size 1 is a batch axis
        psi = psi[0]
    n_modes = psi.ndim
    if not 0 <= mode < n_modes:
        raise ValueError(f"mode must be in [0, {n_modes}), got {mode}")
    moved = np.moveaxis(psi, mode, 0).reshape(psi.shape[mode], -1)
    return moved @ moved.conj().T


def wigner(rho: np.ndarray, xvec: np.ndarray, pvec: np.ndarray, hbar: float = 2.0) -> np.ndarray:
    """Wigner function ``W[p, x]`` of a single-mode density matrix (hbar = 2 convention).

    The iterative Laguerre recursion used by QuTiP and Strawberry Fields:
    ``W = sum_{mn} rho_mn W_mn`` with ``W_mn`` the Wigner function of ``|m><n|``.
    """
    rho = np.asarray(rho)
    cutoff = rho.shape[0]
    grid_x, grid_p = np.meshgrid(xvec, pvec)
    alpha = (grid_x + 1j * grid_p) / (2 * np.sqrt(hbar / 2))
    w_list = [np.exp(-2.0 * np.abs(alpha) ** 2) / np.pi] + [None] * (cutoff - 1)
    total = np.real(rho[0, 0]) * np.real(w_list[0])
    for n in range(1, cutoff):
        w_list[n] = 2.0 * alpha * w_list[n - 1] / np.sqrt(n)
        total = total + 2 * np.real(rho[0, n] * w_list[n])
    for m in range(1, cutoff):
        previous = w_list[m].copy()
        w_list[m] = (2 * np.conj(alpha) * previous - np.sqrt(m) * w_list[m - 1]) / np.sqrt(m)
        total = total + np.real(rho[m, m] * w_list[m])
        for n in range(m + 1, cutoff):
            updated = (2 * alpha * w_list[n - 1] - np.sqrt(m) * previous) / np.sqrt(n)
            previous = w_list[n].copy()
            w_list[n] = updated
            total = total + 2 * np.real(rho[m, n] * w_list[n])
    return total / hbar


def plot_fock_distribution(ket: Any, mode: int = 0, ax: Any = None, title: str | None = None):
    """Bar chart of the photon-number distribution of ``mode``; the title shows the trace."""
    import matplotlib.pyplot as plt

    rho = reduced_density_matrix(ket, mode)
    probs = np.real(np.diag(rho))
    ax = ax or plt.gca()
    ax.bar(np.arange(len(probs)), probs, color="tab:blue")
    ax.set_xlabel("photon number n")
    ax.set_ylabel("P(n)")
    ax.set_xticks(np.arange(len(probs)))
    ax.set_title(title or f"mode {mode}: trace = {probs.sum():.4f}")
    return ax


def plot_wigner(ket: Any, mode: int = 0, ax: Any = None, extent: float = 5.0, points: int = 81):
    """Filled contour of the Wigner function of ``mode`` on ``[-extent, extent]^2``."""
    import matplotlib.pyplot as plt

    xvec = np.linspace(-extent, extent, points)
    values = wigner(reduced_density_matrix(ket, mode), xvec, xvec)
    ax = ax or plt.gca()
    limit = max(np.abs(values).max(), 1e-12)
    ax.contourf(xvec, xvec, values, levels=41, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xlabel("x")
    ax.set_ylabel("p")
    ax.set_aspect("equal")
    ax.set_title(f"Wigner function, mode {mode}")
    return ax


def plot_homodyne_histogram(samples: Any, xvec: Any, density: Any, ax: Any = None, bins: int = 60):
    """Histogram of 1-D homodyne ``samples`` over the exact Born density ``density(xvec)``.

    Taught in ``03_measuring_cv_states``.
    """
    import matplotlib.pyplot as plt

    samples, xvec, density = (np.asarray(v, dtype=float).ravel() for v in (samples, xvec, density))
    if xvec.shape != density.shape:
        raise ValueError(f"xvec and density must have the same length, got {xvec.shape} and {density.shape}")
    ax = ax or plt.gca()
    ax.hist(
        samples,
        bins=bins,
        range=(xvec[0], xvec[-1]),
        density=True,
        alpha=0.5,
        color="tab:red",
        label=f"{len(samples)} samples",
    )
    ax.plot(xvec, density, color="tab:blue", lw=2, label="Born density p(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend(loc="best")
    return ax


def plot_critic_maps(snapshots: Any, real: Any | None = None, max_points: int = 300):
    """One panel per kept epoch of a :class:`~qgan_lab.training.callbacks.CriticSnapshots`: the critic's
    score over the plane (colour), the generator's samples of that epoch (orange) and, if given,
    real samples (blue). Where the score is high the critic believes "real"; the generator
    climbs it. Returns the figure."""
    import matplotlib.pyplot as plt

    epochs = sorted(snapshots.maps)
    if not epochs:
        raise ValueError("the snapshots hold no epoch yet: train with the callback first")
    fig, axes = plt.subplots(1, len(epochs), figsize=(3.6 * len(epochs), 3.4), squeeze=False)
    grid = snapshots.grid
    for ax, epoch in zip(axes[0], epochs):
        score = snapshots.maps[epoch]
        if score.ndim == 2:
            image = ax.contourf(grid, grid, score, levels=20, cmap="RdBu_r")
            if real is not None:
                ax.scatter(*np.asarray(real)[:max_points, :2].T, s=4, c="tab:blue", alpha=0.4, label="real")
            if epoch in snapshots.samples:
                fake = snapshots.samples[epoch][:max_points, :2]
                ax.scatter(*fake.T, s=4, c="tab:orange", alpha=0.6, label="generated")
            ax.set(xlabel="x1", ylabel="x2", aspect="equal")
            fig.colorbar(image, ax=ax, shrink=0.8)
        else:
            ax.plot(grid, score, "k")
            ax.set(xlabel="x", ylabel="critic score")
        ax.set_title(f"critic after epoch {epoch}")
    axes[0][0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


__all__ = [
    "plot_critic_maps",
    "plot_fock_distribution",
    "plot_homodyne_histogram",
    "plot_samples",
    "plot_training_dashboard",
    "plot_wigner",
    "reduced_density_matrix",
    "wigner",
]
