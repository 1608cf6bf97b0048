"""The classical controls (qgan_lab.models.classical): sizes, the trainer's interface, the weight average."""

import numpy as np
import tensorflow as tf

from qgan_lab.data import make_data_generator, validation_set
from qgan_lab.models import PureQuantumGenerator
from qgan_lab.models.classical import ClassicalCritic, ClassicalGenerator, matching_width
from qgan_lab.training.trainer import QuantumGANTrainer


def test_matching_width_gives_the_smallest_mlp_with_at_least_as_many_parameters():
    quantum = PureQuantumGenerator(2, 2, 2, 4, 8, readout="sample", seed=0)
    n = sum(int(np.prod(v.shape)) for v in quantum.trainable_variables)
    width = matching_width(n, 2, 2)
    assert ClassicalGenerator(2, 2, width).n_parameters >= n > ClassicalGenerator(2, 2, width - 1).n_parameters


def test_classical_models_train_in_the_quantum_trainer_and_average_their_weights():
    generator = ClassicalGenerator(2, 2, 6, seed=0)
    trainer = QuantumGANTrainer(generator, ClassicalCritic(2, 8, seed=1), n_critic=2, seed=0, ema_decay=0.5)
    before = generator.get_weights()
    trainer.train(make_data_generator("bimodal", 8, seed=0), 2, 3, 2, validation_data=validation_set(n=200))
    assert all(np.all(np.isfinite(v)) for v in trainer.metrics_history["g_loss"])
    assert any(not np.array_equal(before[k], v.numpy()) for k, v in generator.weights.items())
    z = tf.random.stateless_normal([5, 2], seed=[0, 1])
    averaged, last = generator.generate(z).numpy(), generator.generate(z, averaged=False).numpy()
    assert averaged.shape == (5, 2) and not np.allclose(averaged, last)
    assert "cutoff_dim" not in dir(generator)  # no cutoff: the trainer leaves the physics bounds at their default
