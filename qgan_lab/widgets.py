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
