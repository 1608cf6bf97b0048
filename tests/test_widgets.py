import ipywidgets as widgets
import pytest

from qgan_lab.lab.widgets import make_slider, slider_panel


def test_slider_types_and_panel_calls_update():
    assert isinstance(make_slider("n", (2, 10, 1, 5)), widgets.IntSlider)
    assert isinstance(make_slider("r", (0.0, 1.0, 0.1, 0.5)), widgets.FloatSlider)
    calls = []
    panel = slider_panel(lambda r, n: calls.append((r, n)), r=(0.0, 1.0, 0.1, 0.5), n=(2, 10, 1, 5))
    assert isinstance(panel, widgets.VBox)
    panel.children[0].children[1].value = 7
    assert calls[-1] == (0.5, 7)


def test_bad_slider_specs():
    with pytest.raises(ValueError, match="needs"):
        make_slider("r", (0.0, 1.0))
    with pytest.raises(ValueError, match="outside"):
        make_slider("r", (0.0, 1.0, 0.1, 2.0))


def test_training_panel_button_calls_run_with_the_controls():
    from qgan_lab.lab.widgets import training_panel

    calls = []
    panel = training_panel(lambda **kw: calls.append(kw), epochs=3)
    panel.button.click()
    expected = dict(loss_type="wasserstein", n_critic=3, learning_rate_g=5e-3, learning_rate_d=5e-3, epochs=3)
    assert calls == [dict(readout="sample", **expected)]
