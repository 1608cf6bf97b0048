"""What a learner watches while training runs: the progress bar and the live 2x2 dashboard.

Taught in ``06_training_loop``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

        from ..lab.plotting import plot_training_dashboard

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
