"""Argument checks shared by the trainer, ``train()``, the TOML configs and the CLI.

Every check raises before any work is done, with a :class:`BadValue` (a ``ValueError``) or
:class:`BadType` (a ``TypeError``) whose ``argument`` names what was wrong. Inside
:func:`cli_spelling` (the headless command) names are spelled as on the command line
(``--resume``, ``--output-dir``), elsewhere as in Python (``resume=True``, ``output_dir``).
Taught in ``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Python spelling -> command-line spelling, used while :func:`cli_spelling` is active.
CLI_NAMES = {
    "resume": "--resume",
    "resume=True": "--resume",
    "output_dir": "--output-dir",
    "epochs": "--epochs",
    "steps_per_epoch": "--steps-per-epoch",
    "batch_size": "--batch-size",
    "loss_type": "--loss-type",
    "seed": "--seed",
    "config": "--config",
}
_cli = False


@contextlib.contextmanager
def cli_spelling() -> Iterator[None]:
    """Within this block, :func:`spell` gives command-line names (``--resume``)."""
    global _cli
    before, _cli = _cli, True
    try:
        yield
    finally:
        _cli = before


def spell(name: str) -> str:
    """``name`` as the user wrote it: the CLI flag inside :func:`cli_spelling`, else as is."""
    return CLI_NAMES.get(name, name) if _cli else name


class BadValue(ValueError):
    """A ``ValueError`` that knows which argument was wrong (``argument``) and why (``detail``)."""

    def __init__(self, argument: str, detail: str):
        self.argument, self.detail = spell(argument), detail
        super().__init__(f"{self.argument}: {detail}")


class BadType(TypeError):
    """A ``TypeError`` that knows which argument was wrong (``argument``) and why (``detail``)."""

    def __init__(self, argument: str, detail: str):
        self.argument, self.detail = spell(argument), detail
        super().__init__(f"{self.argument}: {detail}")


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; numpy ints pass, bools, floats and strings do not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadType(name, f"must be an int >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise BadValue(name, f"must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the interval; strings and bools are a ``BadType``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadType(name, f"must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not math.isfinite(value) or not inside:
        raise BadValue(name, f"must be a finite number in {left}{low}, {high}{right}, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite number ``> 0`` (learning rates, scales)."""
    return check_number(name, value, low=0.0, low_open=True)


def check_seed(name: str, value: Any) -> int:
    """A seed: an int ``>= 0``."""
    return check_int(name, value, 0)


def check_loss(loss_type: Any, loss_kwargs: Any) -> Any:
    """Build the loss by calling :func:`~qgan_lab.losses.make_loss` (it decides which names
    exist); numeric keyword values must be finite numbers, never strings."""
    from .losses import make_loss

    if not isinstance(loss_type, str):
        raise BadType("loss_type", f"must be a str, got {loss_type!r}")
    if loss_kwargs is not None and not isinstance(loss_kwargs, dict):
        raise BadType("loss_kwargs", f"must be a dict, got {type(loss_kwargs).__name__}")
    for key, value in (loss_kwargs or {}).items():
        if isinstance(value, (str, bool)) or (isinstance(value, numbers.Real) and not math.isfinite(value)):
            raise BadValue(f"loss_kwargs[{key!r}]", f"must be a finite number, got {value!r}")
    try:
        return make_loss(loss_type, **(loss_kwargs or {}))
    except TypeError as exc:  # an unknown keyword of the loss class
        raise BadType("loss_kwargs", f"not accepted by the {loss_type!r} loss: {exc}") from exc
    except ValueError as exc:
        if "loss_type" in str(exc):
            raise BadValue("loss_type", str(exc).removeprefix("loss_type ")) from exc
        raise BadValue("loss_kwargs", str(exc)) from exc


def check_output_dir(output_dir: Any) -> Path:
    """A folder that exists or can be created, and that we can write into (probed now)."""
    if not isinstance(output_dir, (str, os.PathLike)) or str(output_dir) == "":
        raise BadType("output_dir", f"must be a path, got {output_dir!r}")
    path = Path(output_dir)
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise BadValue("output_dir", f"{blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise BadValue("output_dir", f"cannot write into {path}: {exc.strerror or exc}") from exc
    return path


def check_train_arguments(
    epochs: Any, steps_per_epoch: Any, save_interval: Any, plot_interval: Any, resume: Any
) -> tuple[int, int, int, int]:
    """The integer arguments of :meth:`~qgan_lab.training.QuantumGANTrainer.train`."""
    if not isinstance(resume, bool):
        raise BadType("resume", f"must be True or False, got {resume!r}")
    return (
        check_int("epochs", epochs),
        check_int("steps_per_epoch", steps_per_epoch),
        check_int("save_interval", save_interval),
        check_int("plot_interval", plot_interval),
    )


_CIRCUIT = {
    "n_modes": ("int", 1),
    "layers": ("int", 1),
    "cutoff_dim": ("int", 2),
    "encoding_scale": ("positive", 0),
    "passive_std": ("positive", 0),
    "active_std": ("positive", 0),
}
#: Types of the TOML keys, checked by :func:`check_config_values`: (kind, minimum).
CONFIG_TYPES: dict[str, dict[str, tuple[str, float]]] = {
    "data": {"batch_size": ("int", 1), "validation_samples": ("int", 1)},
    "generator": {**_CIRCUIT, "latent_dim": ("int", 1), "output_dim": ("int", 1), "output_scale": ("positive", 0)},
    "discriminator": {
        **_CIRCUIT,
        "input_dim": ("int", 1),
        "encoding": ("str", 0),
        "input_center": ("numbers_or_auto", 0),
        "input_width": ("numbers_or_auto", 0),
    },
    "training": {
        "epochs": ("int", 1),
        "steps_per_epoch": ("int", 1),
        "n_critic": ("int", 1),
        "learning_rate_g": ("positive", 0),
        "learning_rate_d": ("positive", 0),
        "beta_1": ("beta", 0),
        "ema_decay": ("beta", 0),
        "save_interval": ("int", 1),
        "plot_interval": ("int", 1),
        "seed": ("int", 0),
        "loss_type": ("str", 0),
    },
}


def check_config_values(cfg: dict[str, Any]) -> None:
    """Type and range of every known key of a config; the argument is named ``[section] key``."""
    for section, types in CONFIG_TYPES.items():
        for key, value in cfg.get(section, {}).items():
            if key not in types:
                continue
            kind, minimum = types[key]
            name = f"[{section}] {key}"
            if kind == "int":
                check_int(name, value, int(minimum))
            elif kind == "positive":
                check_positive(name, value)
            elif kind == "beta":
                check_number(name, value, low=0.0, high=1.0, high_open=True)
            elif kind == "numbers_or_auto":
                if value != "auto":
                    for item in value if isinstance(value, list) else [value]:
                        check_number(name, item)
            elif not isinstance(value, str):
                raise BadType(name, f"must be a string, got {value!r}")
    loss = cfg.get("loss") or {}
    tables = {f"[loss.{k}]": v for k, v in loss.items() if isinstance(v, dict)} or {"[loss]": loss}
    for table, values in tables.items():
        for key, value in values.items():
            items = value if isinstance(value, list) else [value]
            if any(
                isinstance(v, (str, bool, dict)) or (isinstance(v, numbers.Real) and not math.isfinite(v))
                for v in items
            ):
                raise BadValue(f"{table} {key}", f"must be a finite number (or a list of them), got {value!r}")
    if "target" in cfg.get("data", {}) and not isinstance(cfg["data"]["target"], str):
        raise BadType("[data] target", f"must be a string, got {cfg['data']['target']!r}")
