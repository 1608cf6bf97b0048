import os
import subprocess
import sys

import scipy.integrate

from qgan_lab._compat import import_strawberryfields, patch_scipy_simps


def test_simps_alias_is_simpson_and_sf_imports():
    patch_scipy_simps()
    assert scipy.integrate.simps is scipy.integrate.simpson or hasattr(scipy.integrate, "simps")
    sf = import_strawberryfields()
    assert sf.__version__.startswith("0.23")
    assert sf.hbar == 2


def test_sf_wigner_integration_uses_the_shim():
    # FockState.x_quad_values integrates with simps: it must run and give a normalised density
    import numpy as np

    sf = import_strawberryfields()
    prog = sf.Program(1)
    with prog.context as q:
        sf.ops.Dgate(0.4) | q[0]
    state = sf.Engine("fock", backend_options={"cutoff_dim": 10}).run(prog).state
    xs = np.linspace(-6, 6, 201)
    values = state.x_quad_values(0, xs, xs)
    assert np.isclose(np.trapezoid(values, xs), 1.0, atol=1e-3)


def _fresh_python(code: str, drop) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose environment lacks the variables ``drop`` matches."""
    env = {k: v for k, v in os.environ.items() if not drop(k)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)


def test_import_is_quiet():
    out = _fresh_python("import qgan_lab, tensorflow as tf; tf.constant(1.0) + 1", lambda k: k.startswith("TF_"))
    assert out.stdout == "" and out.stderr == "", out.stderr


def test_xla_flags_are_added_unless_the_user_set_them(monkeypatch):
    from qgan_lab._compat import XLA_CPU_FLAGS, set_xla_cpu_flags

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert set_xla_cpu_flags() == " ".join(f"--{k}={v}" for k, v in XLA_CPU_FLAGS.items())
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true --xla_dump_to=/tmp/x")
    assert set_xla_cpu_flags() == "--xla_cpu_use_fusion_emitters=true --xla_dump_to=/tmp/x"  # the user's choice stays
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert set_xla_cpu_flags({"xla_cpu_use_fusion_emitters": "false"}) == (
        "--xla_dump_to=/tmp/x --xla_cpu_use_fusion_emitters=false"
    )
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters_extra=1")  # another flag, same prefix
    assert set_xla_cpu_flags().endswith(" --xla_cpu_use_fusion_emitters=false")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert set_xla_cpu_flags({}) == "--xla_dump_to=/tmp/x"  # nothing asked, nothing added
    monkeypatch.setenv("XLA_FLAGS", "/path/to/flagfile")  # XLA reads this as a file of flags
    assert set_xla_cpu_flags() == "/path/to/flagfile"


def test_xla_flags_are_left_out_on_a_tensorflow_too_old_to_know_them(monkeypatch):
    from qgan_lab import _compat

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(_compat, "_tensorflow_version", lambda: (2, 16))
    assert _compat.set_xla_cpu_flags() == ""


def test_import_sets_the_xla_flags_in_a_fresh_process():
    out = _fresh_python("import os, qgan_lab; print(os.environ['XLA_FLAGS'])", lambda k: k == "XLA_FLAGS")
    assert "--xla_cpu_use_fusion_emitters=false" in out.stdout
