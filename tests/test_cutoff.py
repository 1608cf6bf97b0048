"""The cutoff watched: trace warnings on both models, and physics bounds that act in time."""

import logging

import numpy as np
import pytest

from qgan_lab import PureQuantumDiscriminator, PureQuantumGenerator, QuantumGANTrainer
from qgan_lab.sim.cutoff import displacement_bound, parameter_bounds, squeezing_bound
from qgan_lab.training.callbacks import CutoffMonitor
from qgan_lab.training.penalties import physics_regularization


def one_mode(cutoff=4, **weights):
    """A 1-mode generator whose every weight is ~0 except those given (eager, no compilation)."""
    g = PureQuantumGenerator(1, 2, 1, 1, cutoff, seed=0, jit_compile=False)
    g.set_weights({k: np.full(v.shape, weights.get(k.split("_", 1)[1], 1e-6)) for k, v in g.get_weights().items()})
    return g


@pytest.mark.parametrize("group, bound", [("disp_r", displacement_bound), ("squeeze_r", squeezing_bound)])
@pytest.mark.parametrize("cutoff", [4, 6])
def test_bounds_are_what_the_simulated_cutoff_holds(group, bound, cutoff):
    r = bound(cutoff)
    trace_at = {f: float(one_mode(cutoff, **{group: f * r}).forward(np.zeros((1, 1)))["trace"][0]) for f in (1, 1.5)}
    assert trace_at[1] == pytest.approx(0.99, abs=2e-3)  # the Fock simulation agrees with the formula
    assert trace_at[1.5] < 0.985


def test_physics_regulariser_acts_before_the_trace_collapses():
    g = one_mode(4, disp_r=1.2)  # r = 1.2: r^2 = 1.44 photons, trace still above 0.9 at cutoff 4
    trace = float(g.forward(np.zeros((1, 1)))["trace"][0])
    bounds = parameter_bounds(g)
    assert 0.9 < trace < 0.97
    assert float(physics_regularization(g.trainable_variables, bounds)) > 0  # already pushing back
    assert float(physics_regularization(g.trainable_variables, 5.0)) == 0  # the guide's bound: silent
    d = PureQuantumDiscriminator(2, 1, 1, 4, seed=1)
    trainer = QuantumGANTrainer(g, d, n_critic=1)
    assert trainer.loss_fn.param_bound == bounds
    explicit = QuantumGANTrainer(g, d, n_critic=1, loss_kwargs={"param_bound": 5.0})
    assert explicit.loss_fn.param_bound == 5.0  # an explicit bound is kept


def test_a_state_outside_the_cutoff_is_reported(caplog):
    g = one_mode(4)
    with caplog.at_level(logging.WARNING):
        out = g.generate(np.array([[1e6]]))
    assert np.allclose(out.numpy(), 0) and "generator: a state leaves the cutoff (smallest trace 0" in caplog.text


def test_trainer_watches_generator_and_critic(caplog):
    g = PureQuantumGenerator(1, 2, 1, 1, 3, seed=0)
    g.set_weights({**g.get_weights(), "L0_disp_r": np.array([2.0])})  # generator pushed out of its cutoff
    d = PureQuantumDiscriminator(2, 1, 1, 3, seed=1)
    monitor = CutoffMonitor(0.9)
    trainer = QuantumGANTrainer(g, d, n_critic=1, callbacks=[monitor])
    assert sum(isinstance(c, CutoffMonitor) for c in trainer.callbacks) == 1
    far = np.random.default_rng(0).normal(8.0, 0.1, (4, 2)).astype(np.float32)  # real data at (8, 8)
    with caplog.at_level(logging.WARNING):
        history = trainer.train(lambda: far, 1, 1, 1, progress=False)
    assert history["min_trace"][0] < 0.9 and history["critic_min_trace"][0] < 0.9
    assert [model for _, model, _ in monitor.low_trace_epochs] == ["generator", "critic"]
    assert "the generator's state leaves the cutoff" in caplog.text
    assert "the critic's state leaves the cutoff" in caplog.text
    step = trainer.train_discriminator_step(far, np.zeros((4, 1)))
    assert step["low_trace"] and step["critic_min_trace"] < 0.9
