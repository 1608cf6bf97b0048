"""The gradient manager on real failure modes (no mocks), and the finite-difference helper."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from qgan_lab.lab.troubleshooting import cutoff_overflow_case, dropped_gate_case, sqrt_at_zero_case
from qgan_lab.training.gradients import (
    QuantumGradientManager,
    count_valid,
    finite_difference_gradient,
    gradient_flow_report,
    gradient_status,
)

CASES = {"sqrt": sqrt_at_zero_case, "dropped": dropped_gate_case, "overflow": cutoff_overflow_case}
EXPECTED_BAD = {"sqrt": "nan", "dropped": "None", "overflow": "nan"}


def test_finite_differences_of_a_known_function_and_restoration():
    v = tf.Variable([1.0, -2.0], dtype=tf.float64)
    s = tf.Variable(0.5, dtype=tf.float64)
    grads = finite_difference_gradient(lambda: tf.reduce_sum(v**3) + tf.sin(s), [v, s], eps=1e-5)
    assert np.allclose(grads[0], [3.0, 12.0], rtol=1e-8) and np.isclose(grads[1], np.cos(0.5))
    assert np.array_equal(v.numpy(), [1.0, -2.0]) and s.numpy() == 0.5
    with pytest.raises(ValueError, match="eps"):
        finite_difference_gradient(lambda: v[0], [v], eps=0.0)


def test_statuses():
    assert gradient_status(None) == "None"
    assert gradient_status(tf.constant([1.0, np.nan])) == "nan"
    assert gradient_status(tf.constant([np.inf])) == "nan"
    assert gradient_status(tf.zeros([3])) == "zero"
    assert gradient_status(tf.constant([0.0, 1e-30])) == "ok"
    assert count_valid([None, tf.zeros(1), tf.constant([np.nan]), tf.ones(1)]) == 2


@pytest.mark.parametrize("name", list(CASES))
def test_manager_detects_replaces_with_true_gradient_and_steps(name, caplog):
    case = CASES[name]()
    raw = case.autodiff_gradient()
    report = gradient_flow_report(raw, case.variables)
    assert EXPECTED_BAD[name] in [row["status"] for row in report]  # the failure is real
    manager = QuantumGradientManager(max_gradient_norm=100.0, finite_difference_eps=1e-5)
    with caplog.at_level(logging.WARNING):
        safe = manager.check_gradients(raw, case.variables, case.loss_fn)
    assert "finite differences" in caplog.text
    reference = case.reference_gradient()  # independent: safe rewrite or the other engine
    for got, want in zip(safe, reference):
        assert got is not None and np.all(np.isfinite(got.numpy()))
        assert np.allclose(np.ravel(got.numpy()), np.ravel(want), atol=1e-6)
    before = [v.numpy().copy() for v in case.variables]
    optimizer = tf.keras.optimizers.SGD(0.1)
    assert manager.apply_gradients_safely(optimizer, safe, case.variables)
    after = [v.numpy() for v in case.variables]
    assert all(np.all(np.isfinite(a)) for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))
    summary = manager.get_summary()
    assert summary["total_steps"] == 1 and summary["nan_steps"] == 1 and summary["backup_steps"] == 1


def test_without_loss_fn_bad_gradients_are_skipped_and_nothing_nonfinite_is_applied():
    case = cutoff_overflow_case()
    manager = QuantumGradientManager()
    safe = manager.check_gradients(case.autodiff_gradient(), case.variables)
    assert safe == [None]
    before = case.variables[0].numpy().copy()
    assert not manager.apply_gradients_safely(tf.keras.optimizers.SGD(0.1), safe, case.variables)
    assert np.array_equal(before, case.variables[0].numpy())
    assert manager.get_summary()["skipped_steps"] == 1


def test_apply_never_applies_non_finite_values_and_names_a_bad_optimizer():
    v = tf.Variable([1.0, 2.0])
    w = tf.Variable([3.0])
    manager = QuantumGradientManager()
    ok = manager.apply_gradients_safely(
        tf.keras.optimizers.SGD(1.0), [tf.constant([np.nan, 1.0]), tf.constant([1.0])], [v, w]
    )
    assert ok and np.array_equal(v.numpy(), [1.0, 2.0]) and np.isclose(w.numpy()[0], 2.0)
    with pytest.raises(TypeError, match="optimizer must have apply_gradients"):
        manager.apply_gradients_safely("not an optimizer", [tf.constant([1.0, 1.0])], [v])
    with pytest.raises(RuntimeError, match="applying gradients failed"):  # shape mismatch: not swallowed
        manager.apply_gradients_safely(tf.keras.optimizers.SGD(1.0), [tf.constant([1.0, 1.0, 1.0])], [v])


def test_clipping_by_norm_and_threshold_recomputes_all():
    v = tf.Variable([3.0, 4.0], dtype=tf.float64)
    u = tf.Variable([1.0], dtype=tf.float64)
    manager = QuantumGradientManager(max_gradient_norm=1.0, nan_threshold=0.4)
    loss_fn = lambda: tf.reduce_sum(v**2) + tf.reduce_sum(u)  # noqa: E731
    out = manager.check_gradients([tf.constant([6.0, 8.0], tf.float64), None], [v, u], loss_fn)
    assert np.isclose(np.linalg.norm(out[0]), 1.0)
    assert manager.get_summary()["clipped_steps"] == 1
    # 1 of 2 gradients bad (50% > 40%): every gradient is recomputed by finite differences
    assert np.allclose(out[0].numpy(), [0.6, 0.8], atol=1e-6) and np.isclose(out[1].numpy()[0], 1.0)
    with pytest.raises(ValueError, match="nan_threshold"):
        QuantumGradientManager(nan_threshold=2.0)
