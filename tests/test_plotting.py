import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import tensorflow as tf

from qgan_lab.lab.plotting import (
    plot_fock_distribution,
    plot_homodyne_histogram,
    plot_samples,
    plot_training_dashboard,
    plot_wigner,
    reduced_density_matrix,
    wigner,
)
from qgan_lab.sim.circuits import CVCircuit
from qgan_lab.sim.sf_engine import StrawberryFieldsEngine


def test_wigner_and_reduced_density_matrix_match_strawberry_fields():
    circuit = CVCircuit(2, 1, 6, n_inputs=2)
    weights = {k: tf.constant(v) for k, v in circuit.init_weights(2, 0.7, 0.3).items()}
    state = StrawberryFieldsEngine().run(circuit, weights, tf.constant([[0.6, -0.4]]), tf.complex128)
    ket = state.ket().numpy()
    xvec = np.linspace(-4, 4, 41)
    for mode in range(2):
        rho = reduced_density_matrix(ket, mode)
        assert np.allclose(rho, state.reduced_dm(mode).numpy(), atol=1e-10)
        assert np.allclose(wigner(rho, xvec, xvec), state.wigner(mode, xvec, xvec), atol=1e-10)
    with pytest.raises(ValueError, match="mode"):
        reduced_density_matrix(ket, 2)


def test_vacuum_wigner_is_the_hbar2_gaussian():
    rho = np.zeros((4, 4))
    rho[0, 0] = 1
    x = np.linspace(-3, 3, 7)
    expected = np.exp(-(x[None, :] ** 2 + x[:, None] ** 2) / 2) / (2 * np.pi)
    assert np.allclose(wigner(rho, x, x), expected)


def test_plots_draw():
    import matplotlib.pyplot as plt

    ket = np.zeros((1, 5), complex)
    ket[0, 1] = 1
    fig, axes = plt.subplots(1, 3)
    plot_fock_distribution(ket, 0, ax=axes[0])
    assert axes[0].get_title() == "mode 0: trace = 1.0000"
    plot_wigner(ket, 0, ax=axes[1], points=21)
    plot_samples(np.random.normal(size=(20, 2)), np.random.normal(size=(20, 2)), ax=axes[2])
    history = {
        "g_loss": [1.0, 0.5],
        "d_loss": [0.2, 0.1],
        "g_gradients": [20, 20],
        "d_gradients": [20, 20],
        "w_distance": [0.3, 0.2],
    }
    dash = plot_training_dashboard(history, np.zeros((5, 2)), np.ones((5, 2)), 20, 20)
    assert len(dash.axes) == 4
    first_epoch = {key: values[:1] for key, values in history.items()}  # the first live draw
    for fig in (dash, plot_training_dashboard(first_epoch, np.zeros((5, 2)), np.ones((5, 2)), 20, 20)):
        fig.canvas.draw()
        losses, flow, _, w = fig.axes
        for ax in (losses, flow, w):  # whole epochs only, each of a short run marked
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            data = [line for line in ax.lines if line.get_linestyle() != ":"]  # (not the totals' lines)
            assert data and all(line.get_marker() == "o" for line in data), ax.get_title()
        low, high = flow.get_ylim()
        assert all(float(t).is_integer() for t in flow.get_yticks() if low <= t <= high)
    long = {key: list(np.linspace(1, 2, 40)) for key in history}
    dash = plot_training_dashboard(long, np.zeros((5, 2)), np.ones((5, 2)), 20, 20)
    assert all(line.get_marker() in (None, "None", "") for line in dash.axes[0].lines)
    plt.close("all")


def test_homodyne_histogram_draws_samples_and_density_and_checks_lengths():
    import matplotlib.pyplot as plt

    xvec = np.linspace(-4, 4, 81)
    density = np.exp(-(xvec**2) / 2) / np.sqrt(2 * np.pi)
    samples = np.random.default_rng(0).normal(size=500)
    fig, ax = plt.subplots()
    plot_homodyne_histogram(samples, xvec, density, ax=ax)
    assert len(ax.patches) == 60 and len(ax.lines) == 1
    heights = np.array([p.get_height() for p in ax.patches])
    assert abs(heights.sum() * (8 / 60) - 1) < 0.05  # a density histogram
    with pytest.raises(ValueError, match="same length"):
        plot_homodyne_histogram(samples, xvec, density[:-1], ax=ax)
    plt.close(fig)


def test_critic_snapshots_keep_the_critics_score_and_the_maps_draw():
    from qgan_lab.data import make_data_generator, validation_set
    from qgan_lab.lab.plotting import plot_critic_maps
    from qgan_lab.models import PureQuantumDiscriminator, PureQuantumGenerator
    from qgan_lab.training.callbacks import CriticSnapshots
    from qgan_lab.training.trainer import QuantumGANTrainer

    snapshots = CriticSnapshots(epochs=[1, 2], low=-3, high=3, points=7)
    with pytest.raises(ValueError, match="no epoch yet"):
        plot_critic_maps(snapshots)
    generator = PureQuantumGenerator(2, 2, 2, 1, 4, readout="sample", seed=0)
    critic = PureQuantumDiscriminator(2, 2, 1, 4, readout="joint", encoding="phase", encoding_scale=0.4, seed=1)
    trainer = QuantumGANTrainer(generator, critic, n_critic=1, seed=0, callbacks=[snapshots])
    validation = validation_set(n=100)
    trainer.train(make_data_generator("bimodal", 8, seed=0), 2, 2, 2, validation_data=validation)
    assert sorted(snapshots.maps) == [1, 2] and snapshots.maps[2].shape == (7, 7)
    point = tf.constant([[snapshots.grid[2], snapshots.grid[5]]], tf.float32)  # row: x2, column: x1
    assert abs(snapshots.maps[2][5, 2] - float(critic.discriminate(point)[0, 0])) < 1e-5
    assert snapshots.samples[2].shape == (500, 2)
    fig = plot_critic_maps(snapshots, validation)
    assert len(fig.axes) == 4  # two panels and their colour bars
