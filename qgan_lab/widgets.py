"""Small ipywidgets helpers: sliders that redraw a plot in place.

``ipywidgets`` is imported inside the functions, so the package works without it.
Taught in ``00_welcome`` (how the widgets work) and used by every notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
    """Controls to choose the loss, ``n_critic``, learning rates and epochs, and a Train button.

    Clicking *Train* calls ``run(loss_type=..., n_critic=..., learning_rate_g=...,
    learning_rate_d=..., epochs=...)`` with its output (progress bar, live dashboard) shown
    below the controls. Returns the ``VBox``; ``panel.button.click()`` trains from code.
    """
    import ipywidgets as widgets

    loss = widgets.Dropdown(options=["wasserstein", "measurement", "bce"], value="wasserstein", description="loss")
    n_critic = widgets.IntSlider(min=1, max=10, value=5, description="n_critic")
    lr_g = widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, description="lr G")
    lr_d = widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, description="lr D")
    n_epochs = widgets.IntSlider(min=1, max=max_epochs, value=epochs, description="epochs")
    button = widgets.Button(description="Train", button_style="success", icon="play")
    output = widgets.Output()

    def on_click(_):
        output.clear_output()
        with output:
            run(
                loss_type=loss.value,
                n_critic=n_critic.value,
                learning_rate_g=lr_g.value,
                learning_rate_d=lr_d.value,
                epochs=n_epochs.value,
            )

    button.on_click(on_click)
    panel = widgets.VBox([widgets.HBox([loss, n_critic, n_epochs]), widgets.HBox([lr_g, lr_d, button]), output])
    panel.button, panel.output = button, output  # type: ignore[attr-defined]
    return panel
