"""The package's shape: the public names, the guide's signatures, imports that run one way
(lab and sweep -> training -> models -> sim -> foundation), rooms that read in one sitting, and
a run saved before the package was layered that still resumes."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qgan_lab

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qgan_lab"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run_before_layers"

#: the guide's names (``qgan_training_guide.md``)
GUIDE_NAMES = (
    "PureQuantumGenerator",
    "PureQuantumDiscriminator",
    "QuantumWassersteinLoss",
    "QuantumMeasurementLoss",
    "QuantumGradientManager",
    "QuantumGANTrainer",
    "QuantumGANCallback",
    "create_bimodal_data_generator",
)

#: the guide's signatures: its parameters, in its order and with its defaults, lead ours (what we
#: added comes after them, with defaults, or keyword-only). ``...``: no default in the guide.
GUIDE_SIGNATURES = {
    "PureQuantumGenerator": [
        ("latent_dim", ...),
        ("output_dim", ...),
        ("n_modes", ...),
        ("layers", ...),
        ("cutoff_dim", ...),
    ],
    "PureQuantumDiscriminator": [("input_dim", ...), ("n_modes", ...), ("layers", ...), ("cutoff_dim", ...)],
    "QuantumWassersteinLoss": [("lambda_gp", 10.0), ("lambda_entropy", 0.5), ("lambda_physics", 1.0)],
    "QuantumWassersteinLoss.discriminator_loss": [
        ("real_output", ...),
        ("fake_output", ...),
        ("real_samples", ...),
        ("fake_samples", ...),
        ("discriminator", ...),
    ],
    "QuantumWassersteinLoss.generator_loss": [
        ("fake_output", ...),
        ("fake_measurements", None),
        ("generator_params", None),
    ],
    "QuantumMeasurementLoss": [("measurement_weight", 1.0), ("distribution_weight", 0.1)],
    "QuantumMeasurementLoss.compute_loss": [
        ("generated_measurements", ...),
        ("real_data", ...),
        ("generator_params", None),
    ],
    "QuantumGradientManager": [("nan_threshold", 0.7), ("backup_std", 0.01), ("max_gradient_norm", 5.0)],
    "QuantumGradientManager.safe_gradient": [("tape", ...), ("loss", ...), ("variables", ...)],
    "QuantumGradientManager.apply_gradients_safely": [("optimizer", ...), ("gradients", ...), ("variables", ...)],
    "QuantumGradientManager.get_summary": [],
    "QuantumGANTrainer": [("generator", ...), ("discriminator", ...), ("loss_type", "wasserstein")],
    "QuantumGANTrainer.train_discriminator_step": [("real_batch", ...), ("z_batch", ...)],
    "QuantumGANTrainer.train_generator_step": [("z_batch", ...), ("real_batch", None)],
    "QuantumGANTrainer.train_epoch": [
        ("data_generator", ...),
        ("steps_per_epoch", ...),
        ("latent_dim", ...),
        ("epoch_num", ...),
    ],
    "QuantumGANTrainer.train": [
        ("data_generator", ...),
        ("epochs", ...),
        ("steps_per_epoch", ...),
        ("latent_dim", ...),
        ("validation_data", None),
        ("save_interval", 10),
        ("plot_interval", 5),
    ],
    "QuantumGANCallback.on_epoch_end": [("epoch", ...), ("trainer", ...), ("logs", None)],
    "create_bimodal_data_generator": [("batch_size", 16)],
}

#: layers, bottom up; a module may import only from its own layer or the ones below
LAYERS = {"foundation": 0, "sim": 1, "models": 2, "training": 3, "lab": 4, "sweep": 4, "app": 4}
FOUNDATION = {"_compat", "validation", "data", "metrics"}
APP = {"config", "cli", "__main__"}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300


def layer_of(module: str) -> str:
    """``qgan_lab.sim.fock`` -> ``sim``; top-level modules are the foundation or the app."""
    parts = module.split(".")[1:]
    if not parts or parts == ["__init__"]:
        return "package"
    if len(parts) > 1 and parts[0] in LAYERS:
        return parts[0]
    return "foundation" if parts[0] in FOUNDATION else "app" if parts[0] in APP else parts[0]


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (``qgan_lab.sim`` for ``sim/__init__.py``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_modules(name: str, path: Path) -> set[str]:
    """Every ``qgan_lab`` module ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qgan_lab"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("qgan_lab"):
                continue
            for alias in node.names:  # ``from . import checkpoints`` imports a module
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in modules() else base)
    return out


def test_every_public_name_imports_from_the_package_and_its_layers():
    for name in GUIDE_NAMES:
        assert name in qgan_lab.__all__, name
    for name in qgan_lab.__all__:
        assert getattr(qgan_lab, name) is not None, name
    for sub in ("sim", "models", "training"):
        module = importlib.import_module(f"qgan_lab.{sub}")
        for name in module.__all__:
            assert getattr(module, name) is not None, f"qgan_lab.{sub}.{name}"
    assert qgan_lab.QuantumGANTrainer is qgan_lab.training.QuantumGANTrainer
    assert qgan_lab.PureQuantumGenerator is qgan_lab.models.PureQuantumGenerator
    assert qgan_lab.FockEngine is qgan_lab.sim.FockEngine


@pytest.mark.parametrize("qualified", sorted(GUIDE_SIGNATURES))
def test_the_guides_signatures_lead_ours(qualified):
    owner, _, method = qualified.partition(".")
    obj = getattr(qgan_lab, owner)
    target = getattr(obj, method) if method else obj
    params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    expected = GUIDE_SIGNATURES[qualified]
    got = [(p.name, p.default) for p in params[: len(expected)]]
    assert [name for name, _ in got] == [name for name, _ in expected], qualified
    for (name, default), param in zip(expected, params):
        assert param.kind in (param.POSITIONAL_OR_KEYWORD, param.POSITIONAL_ONLY), f"{qualified}: {name}"
        if default is not ...:
            assert param.default == default, (
                f"{qualified}: {name} defaults to {param.default!r}, the guide's {default!r}"
            )
    for param in params[len(expected) :]:  # what we added cannot break a guide-style call
        assert param.default is not param.empty or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL), (
            f"{qualified}: {param.name} has no default"
        )


def test_imports_run_one_way_down_the_layers():
    wrong = []
    for name, path in modules().items():
        layer = layer_of(name)
        if layer == "package":
            continue
        assert layer in LAYERS, f"{name}: in no layer (add it to a subpackage or the foundation)"
        for target in imported_modules(name, path):
            other = layer_of(target)  # the root package (``from .. import X``) holds every layer: the top
            if (LAYERS["app"] if other == "package" else LAYERS[other]) > LAYERS[layer]:
                wrong.append(f"{name} ({layer}) imports {target} ({other})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The check above can fail: an import from training in a sim module is found."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from ..training.losses import make_loss\n")
    found = imported_modules("qgan_lab.sim.fake", fake)
    assert found == {"qgan_lab.training.losses"} and LAYERS[layer_of("qgan_lab.training.losses")] > LAYERS["sim"]
    fake.write_text("from .. import QuantumGANTrainer\n")  # through the root package
    assert imported_modules("qgan_lab.sim.fake", fake) == {"qgan_lab"} and layer_of("qgan_lab") == "package"


def test_rooms_read_in_one_sitting():
    long = []
    for name, path in modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


def test_the_package_import_leaves_notebook_libraries_and_ray_out():
    code = (
        "import sys, qgan_lab; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'ray')"
        " or m.startswith('qgan_lab.lab') or m.startswith('qgan_lab.sweep')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_run_saved_before_the_package_was_layered_resumes(tmp_path):
    """``tests/fixtures/run_before_layers``: epochs 1-2 of a 4-epoch run, written by the code
    before the move into subpackages (commit 0645a9c), and the final samples of the same run
    trained there without a stop. Resumed by today's code it ends at those samples (bit for bit
    on the machine that wrote them; the tolerance leaves room for another CPU's rounding)."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run, ignore=shutil.ignore_patterns("config.toml", "expected_final_samples.npy"))
    env = {**os.environ, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "qgan_lab", "train", "--config", str(FIXTURE / "config.toml")]
    cmd += ["--output-dir", str(run), "--epochs", "4", "--resume", "--no-progress", "--no-tensorboard"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Epoch 3:" in result.stdout and "Epoch 1:" not in result.stdout  # it continued, not restarted
    final = np.load(run / "final_generated_samples.npy")
    expected = np.load(FIXTURE / "expected_final_samples.npy")
    np.testing.assert_allclose(final, expected, atol=1e-3)


def qgan_lab_imports(source: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``from qgan_lab... import`` / ``import qgan_lab...`` in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgan_lab") and not node.level:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("qgan_lab")]
    return found


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # (IPython magics)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "notebooks").glob("*.ipynb")),
    ids=lambda p: p.name,
)
def test_what_the_benchmarks_and_notebooks_import_exists(path):
    """Every ``qgan_lab`` module and name a benchmark or notebook imports exists (the notebooks
    also run under nbval; the benchmarks are not run by the tests)."""
    source = notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    imports = qgan_lab_imports(source)
    for module, names in imports:
        imported = importlib.import_module(module)
        for name in names:
            assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), f"{module}.{name}"
