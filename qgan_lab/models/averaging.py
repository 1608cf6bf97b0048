"""An exponential moving average of a model's weights (Polyak averaging of the generator).

An adversarial game circles its equilibrium rather than settling in it; the average of the
circling iterates sits nearer the centre than any one of them (Yazici et al., *The unusual
effectiveness of averaging in GAN training*, ICLR 2019). :class:`WeightAverage` gives a model
whose trainable weights are the ``tf.Variable`` s of its ``weights`` dict an average kept in
non-trainable variables beside them, so checkpoints save it with the model. The trainer
(``ema_decay``) updates it after every step. Taught in ``06_training_loop``.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf


class WeightAverage:
    """Mixin: ``track_average()``, ``update_average(decay)``, ``using_average()`` over ``self.weights``."""

    weights: dict[str, tf.Variable]
    real_dtype: tf.DType
    averaged_weights: dict[str, tf.Variable] | None = None

    def track_average(self) -> None:
        """Keep an exponential moving average of the weights (``tf.Variable`` s, not trainable,
        saved in checkpoints with the model), starting at the current weights. The trainer
        updates it after every generator update (:meth:`update_average`)."""
        if self.averaged_weights is None:
            self.averaged_weights = {
                key: tf.Variable(var, trainable=False, name=f"{key}_average") for key, var in self.weights.items()
            }
            self._average_fn = tf.function(self._update_average_impl, jit_compile=True, autograph=False)

    def _update_average_impl(self, decay: tf.Tensor) -> None:
        for key, var in self.weights.items():
            average = self.averaged_weights[key]
            average.assign(decay * average + (1.0 - decay) * var)

    def update_average(self, decay: float) -> None:
        """``average <- decay * average + (1 - decay) * weights`` (one compiled call)."""
        self._average_fn(tf.constant(decay, self.real_dtype))

    @contextlib.contextmanager
    def using_average(self, averaged: bool = True):
        """Inside the block the model holds its averaged weights (if it keeps an average and
        ``averaged``); the last iterate's are put back afterwards, whatever happens."""
        if not averaged or self.averaged_weights is None:
            yield self
            return
        current = {key: var.numpy() for key, var in self.weights.items()}
        for key, var in self.weights.items():
            var.assign(self.averaged_weights[key])
        try:
            yield self
        finally:
            for key, var in self.weights.items():
                var.assign(current[key])


def averaged(model: object):
    """``model.using_average()``, or a no-op block for a model that keeps no average (a user's
    own model with the trainer's interface, a test double)."""
    using = getattr(model, "using_average", None)
    return using() if using is not None else contextlib.nullcontext(model)
