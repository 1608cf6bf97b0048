"""What a learner watches while training runs: the progress bar and the live 2x2 dashboard.

Taught in ``06_training_loop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models.averaging import averaged


def progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True)


class Dashboard:
    """The guide's 2x2 figure: saved as PNG, and redrawn in place in a notebook if ``live``.

    In place means one ``ipywidgets.Image`` whose PNG is replaced each time: unlike
    ``display(..., display_id=True)`` updates, which JupyterLab's ``Output`` widget ignores,
    this also redraws inside the Train panel's output.
    """

    def __init__(self, trainer: Any, validation: Any, live: bool, output_dir: Path | None):
        self.trainer, self.validation, self.live, self.output_dir = trainer, validation, live, output_dir
        self.fig = None  # created at the first update: matplotlib stays out of memory while XLA compiles
        self.image = None  # the ipywidgets.Image shown in the notebook
        self.handle = None  # a display handle, where ipywidgets is missing

    def update(self, epoch: int) -> None:
        import matplotlib.pyplot as plt

        if self.fig is None:
            self.fig = plt.figure(figsize=(11, 8))
        kept = self.trainer.epoch_samples  # the epoch's validation samples: the same z and weights
        if kept is not None and kept[0] == epoch:
            generated = kept[1]
        else:
            with averaged(self.trainer.generator):
                generated = self.trainer.steps.sample(self.trainer._plot_z).numpy()
        plot_training_dashboard(
            self.trainer.metrics_history,
            generated,
            self.validation,
            len(self.trainer.generator.trainable_variables),
            len(self.trainer.discriminator.trainable_variables),
            fig=self.fig,
            title=f"epoch {epoch}",
        )
        if self.output_dir is not None:
            (self.output_dir / "plots").mkdir(parents=True, exist_ok=True)
            self.fig.savefig(self.output_dir / "plots" / f"qgan_training_epoch_{epoch}.png", dpi=100)
        if self.live:
            self._show()

    def _show(self) -> None:
        import io

        from IPython.display import display

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=72)
        try:
            import ipywidgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            if self.handle is None:
                self.handle = display(self.fig, display_id=True)
            else:
                self.handle.update(self.fig)
            return
        if self.image is None:
            self.image = ipywidgets.Image(value=buffer.getvalue(), format="png", layout={"max_width": "100%"})
            self.image.add_class("qgan-dashboard")
            display(self.image)
        else:
            self.image.value = buffer.getvalue()

    def close(self) -> None:
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)


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
