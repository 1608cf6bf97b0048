"""Small ipywidgets helpers: sliders that redraw a plot in place, the Train panel, and
:func:`notebook_logging` (the package's log lines as plain notebook output).

``ipywidgets`` is imported inside the functions, so the package works without it.
Taught in ``00_welcome`` (how the widgets work) and used by every notebook.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is *now*: in a notebook that is the cell (or the
    ``Output`` widget) that is running, so log lines land where the learner is looking."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


class _PlainFormatter(logging.Formatter):
    """``message`` for INFO and below, ``WARNING: message`` above: a warning stands out in plain text."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno <= logging.INFO else f"{record.levelname}: {text}"


def notebook_logging(level: int | str = logging.INFO) -> logging.Logger:
    """Show the ``qgan_lab`` logger's lines (epoch lines, warnings) as plain stdout text.

    Jupyter draws stderr in pink boxes that read like errors; this gives the ``qgan_lab``
    logger its own stdout handler (replacing one added by an earlier call) and stops it
    propagating, so the root logger stays untouched and other libraries' INFO lines stay
    hidden. It also quiets TensorFlow's and absl's Python loggers. Returns the logger.
    Taught in ``06_training_loop``.
    """
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level must be a logging level (int or name), got {level!r}")
    from .._compat import quiet_tensorflow

    quiet_tensorflow()
    logger = logging.getLogger("qgan_lab")
    for handler in [h for h in logger.handlers if isinstance(h, _StdoutHandler)]:
        logger.removeHandler(handler)
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(_PlainFormatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)  # raises ValueError for an unknown level name
    logger.propagate = False
    return logger


def make_slider(name: str, spec: Any):
    """A slider from ``(min, max, step, value)``: an ``IntSlider`` if all four are ints."""
    import ipywidgets as widgets

    if isinstance(spec, widgets.Widget):
        return spec
    if not (isinstance(spec, tuple) and len(spec) == 4):
        raise ValueError(f"slider {name!r} needs (min, max, step, value), got {spec!r}")
    low, high, step, value = spec
    if not low <= value <= high:
        raise ValueError(f"slider {name!r}: value {value} outside [{low}, {high}]")
    kind = widgets.IntSlider if all(isinstance(v, int) for v in spec) else widgets.FloatSlider
    return kind(
        min=low,
        max=high,
        step=step,
        value=value,
        description=name,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def slider_panel(update: Callable[..., Any], **specs: Any):
    """Sliders for ``update``'s keyword arguments, with its output redrawn in place.

    ``specs`` maps argument names to ``(min, max, step, value)`` tuples (or ready widgets).
    ``update`` is called once immediately and again on every change. Returns the
    ``VBox`` (display it, or let it be the cell's last expression).
    """
    import ipywidgets as widgets

    controls = {name: make_slider(name, spec) for name, spec in specs.items()}
    output = widgets.interactive_output(update, controls)
    return widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), output])


def training_panel(run: Callable[..., Any], epochs: int = 5, max_epochs: int = 50):
    """Controls to choose the generator's readout, the loss, ``n_critic``, learning rates and
    epochs, and a Train button.

    Clicking *Train* calls ``run(readout=..., loss_type=..., n_critic=..., learning_rate_g=...,
    learning_rate_d=..., epochs=...)`` with its output (progress bar, live dashboard) shown
    below the controls. While it runs the button is disabled and reads *training...*, and a
    first line says that the first epoch compiles. Returns the ``VBox``;
    ``panel.button.click()`` trains from code. Taught in ``06_training_loop``.
    """
    import ipywidgets as widgets

    from ..training.losses import LOSS_TYPES

    readout = widgets.Dropdown(
        options=[("sample (Born machine)", "sample"), ("mean (the guide)", "mean")],
        value="sample",
        description="readout",
    )
    loss = widgets.Dropdown(options=list(LOSS_TYPES), value="wasserstein", description="loss")
    n_critic = widgets.IntSlider(min=1, max=10, value=3, description="n_critic")
    lr_g = widgets.FloatLogSlider(value=5e-3, base=10, min=-4, max=-1, description="lr G")
    lr_d = widgets.FloatLogSlider(value=5e-3, base=10, min=-4, max=-1, description="lr D")
    n_epochs = widgets.IntSlider(min=1, max=max_epochs, value=epochs, description="epochs")
    button = widgets.Button(description="Train", button_style="success", icon="play")
    output = widgets.Output()

    def on_click(_):
        button.disabled, button.description, button.icon = True, "training...", "spinner"
        output.clear_output()
        try:
            with output:
                print("Training... the first epoch compiles the circuits, which can take a minute.")
                run(
                    readout=readout.value,
                    loss_type=loss.value,
                    n_critic=n_critic.value,
                    learning_rate_g=lr_g.value,
                    learning_rate_d=lr_d.value,
                    epochs=n_epochs.value,
                )
        finally:
            button.disabled, button.description, button.icon = False, "Train", "play"

    button.on_click(on_click)
    panel = widgets.VBox(
        [widgets.HBox([readout, loss, n_critic]), widgets.HBox([lr_g, lr_d, n_epochs]), button, output]
    )
    panel.button, panel.output = button, output  # type: ignore[attr-defined]
    return panel
