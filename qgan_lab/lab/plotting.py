"""Plots: Fock distributions, Wigner functions, samples and the training dashboard.

Matplotlib is imported inside each function, so ``import qgan_lab`` never needs it.
Taught in ``01_cv_circuits`` (states), ``03_measuring_cv_states`` (homodyne samples) and
``06_training_loop`` (dashboard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


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


def plot_samples(generated: Any, real: Any | None = None, ax: Any = None, max_points: int = 500):
    """Scatter of the first two features of generated (and real) samples."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    if real is not None:
        real = np.asarray(real)[:max_points]
        ax.scatter(real[:, 0], real[:, 1 % real.shape[1]], s=10, alpha=0.4, label="real", color="tab:blue")
    fake = np.asarray(generated)[:max_points]
    ax.scatter(fake[:, 0], fake[:, 1 % fake.shape[1]], s=10, alpha=0.6, label="generated", color="tab:red")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.legend(loc="best")
    ax.grid(True, alpha=0.3)
    return ax


#: :func:`plot_training_dashboard` marks every epoch of a history this short.
MARKED_EPOCHS = 12


def plot_training_dashboard(
    history: Mapping[str, Sequence[float]],
    generated: Any,
    real: Any | None = None,
    n_generator_variables: int | None = None,
    n_discriminator_variables: int | None = None,
    fig: Any = None,
    title: str | None = None,
):
    """The guide's 2x2 figure: losses, gradient flow, samples vs real data, Wasserstein estimate.

    Epoch axes (and the gradient counts) have whole-number ticks; a short history (up to
    :data:`MARKED_EPOCHS` epochs) is drawn with a marker per epoch, so that one or two epochs
    (a first click in ``06_training_loop``) show points, not an empty axis."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if fig is None:
        fig = plt.figure(figsize=(11, 8))
    fig.clf()
    axes = fig.subplots(2, 2)
    epochs = np.arange(1, len(history.get("g_loss", [])) + 1)
    marks = {"marker": "o", "markersize": 4} if len(epochs) <= MARKED_EPOCHS else {}
    axes[0, 0].plot(epochs, history.get("g_loss", []), label="generator", **marks)
    axes[0, 0].plot(epochs, history.get("d_loss", []), label="discriminator", **marks)
    axes[0, 0].set(title="Training losses", xlabel="epoch", ylabel="loss")
    axes[0, 0].legend()
    axes[0, 1].plot(epochs, history.get("g_gradients", []), label="generator", **marks)
    axes[0, 1].plot(epochs, history.get("d_gradients", []), label="discriminator", **marks)
    axes[0, 1].yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for total, style in ((n_generator_variables, "C0"), (n_discriminator_variables, "C1")):
        if total:
            axes[0, 1].axhline(total, color=style, ls=":", lw=1)
    axes[0, 1].set(title="Gradient flow (valid gradients)", xlabel="epoch", ylabel="variables")
    axes[0, 1].legend()
    plot_samples(generated, real, ax=axes[1, 0])
    axes[1, 0].set_title("Samples")
    w = history.get("w_distance", [])
    if len(w):
        axes[1, 1].plot(np.arange(1, len(w) + 1), w, **marks)
    axes[1, 1].set(title="Wasserstein estimate (critic)", xlabel="epoch", ylabel="E[D(real)] - E[D(fake)]")
    for ax in axes.ravel():
        ax.grid(True, alpha=0.3)
    for ax in (axes[0, 0], axes[0, 1], axes[1, 1]):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.96) if title else (0, 0, 1, 1))
    return fig


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
