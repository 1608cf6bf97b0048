"""Final evaluation of a trained generator, and its text report.

:func:`evaluate` is what :meth:`qgan_lab.training.trainer.QuantumGANTrainer.evaluate` and the CLI run at
the end of training: W1 per feature and mode coverage of fresh samples against held-out
validation data, plus the gradient managers' statistics. Taught in
``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..data import as_numbers, check_batch_source
from ..metrics import evaluate_samples
from ..models.averaging import averaged
from ..validation import BadValue, check_int, check_output_dir
from . import checkpoints


def check_validation_data(validation_data: Any, expected_dim: int) -> None:
    """``ValueError`` naming ``validation_data`` unless it is a finite ``[n, expected_dim]`` array."""
    array = as_numbers(validation_data, "validation_data")  # ragged, strings: named here
    try:
        check_batch_source(lambda: array, expected_dim)
    except ValueError as exc:
        raise BadValue("validation_data", str(exc).replace("data_generator returns", "has")) from exc


def evaluate(
    trainer: Any,
    validation_data: Any,
    centers: Any = None,
    n_samples: int = 1000,
    output_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Final evaluation on ``n_samples`` fresh samples: W1 per feature, statistics, mode
    coverage (if ``centers``), gradient-manager summaries; saved to ``output_dir`` if given."""
    n_samples = check_int("n_samples", n_samples)
    check_validation_data(validation_data, trainer.generator.output_dim)
    if output_dir is not None:
        output_dir = check_output_dir(output_dir)
    z = tf.random.stateless_normal([n_samples, trainer.latent_dim], seed=[trainer.seed, 99])
    with averaged(trainer.generator):  # the averaged generator, where the trainer keeps one
        generated = trainer.steps.sample(z).numpy()
    report = evaluate_samples(generated, np.asarray(validation_data), centers)
    report["epochs"] = int(trainer.epoch.numpy())
    report["gradient_manager"] = {
        "generator": trainer.g_gradient_manager.get_summary(),
        "discriminator": trainer.d_gradient_manager.get_summary(),
    }
    if output_dir is not None:  # evaluation.json last, with the digests of the other two
        files = {
            "final_generated_samples.npy": checkpoints.atomic_save_npy(
                output_dir / "final_generated_samples.npy", generated
            ),
            "report.txt": checkpoints.atomic_write_text(output_dir / "report.txt", format_report(report)),
        }
        digests = {name: checkpoints.file_digest(path) for name, path in files.items()}
        text = json.dumps({**report, "files": digests}, indent=2, default=checkpoints.jsonable)
        checkpoints.atomic_write_text(output_dir / "evaluation.json", text)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable evaluation report."""
    lines = [
        f"epochs trained: {report['epochs']}",
        "Wasserstein-1 per feature: " + ", ".join(f"{w:.4f}" for w in report["wasserstein_per_feature"]),
        f"mean W1: {report['wasserstein_mean']:.4f}",
        "generated mean: " + ", ".join(f"{m:+.3f}" for m in report["generated"]["mean"]),
        "generated std:  " + ", ".join(f"{s:.3f}" for s in report["generated"]["std"]),
    ]
    if "mode_coverage" in report:
        lines.append("mode coverage: " + ", ".join(f"{100 * c:.1f}%" for c in report["mode_coverage"]))
    for side, summary in report["gradient_manager"].items():
        lines.append(
            f"{side} gradient manager: {summary['total_steps']} steps, NaN/None rate {summary['nan_rate']:.2%}, "
            f"backup rate {summary['backup_rate']:.2%}, clipped {summary['clip_rate']:.2%}, "
            f"skipped {summary['skipped_steps']}"
        )
    return "\n".join(lines) + "\n"
