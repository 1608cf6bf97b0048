"""Argument checks shared by the trainer, ``train()``, the TOML configs and the CLI.

Every check raises before any work is done, with a :class:`BadValue` (a ``ValueError``) or
:class:`BadType` (a ``TypeError``) whose ``argument`` names what was wrong. Inside
:func:`cli_spelling` (the headless command) names are spelled as on the command line
(``--resume``, ``--output-dir``), elsewhere as Python keywords (``resume=True``, ``output_dir=``).
Taught in ``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    """``name`` as the user wrote it: the CLI flag inside :func:`cli_spelling` (``--seed``), a
    Python keyword argument elsewhere (``lr_decay=``); other spellings (``[training] lr_decay``,
    ``weights['x']``) as they are."""
    if _cli:
        return CLI_NAMES.get(name, name)
    return f"{name}=" if name.isidentifier() else name


class BadValue(ValueError):
    """A ``ValueError`` that knows which argument was wrong (``argument``) and why (``detail``)."""

    def __init__(self, argument: str, detail: str):
        self.argument, self.detail = spell(argument), detail
        super().__init__(f"{self.argument}: {detail}")

    def __reduce__(self):  # copied and pickled whole (Ray sends a failed trial's error between processes)
        return type(self), (self.argument, self.detail)


class BadType(TypeError):
    """A ``TypeError`` that knows which argument was wrong (``argument``) and why (``detail``)."""

    def __init__(self, argument: str, detail: str):
        self.argument, self.detail = spell(argument), detail
        super().__init__(f"{self.argument}: {detail}")

    def __reduce__(self):  # copied and pickled whole (Ray sends a failed trial's error between processes)
        return type(self), (self.argument, self.detail)


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
    """A seed: an int in ``[0, MAX_SEED]`` (the :data:`ARGUMENTS` rule ``seed``)."""
    return check("seed", value, name)


def finite_numbers(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return bool(items) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in items
    )


def check_callback(callback: Any) -> None:
    """A callback must have ``on_epoch_end(epoch, trainer, logs)``: checked when the trainer is
    built, not after the first epoch has trained."""
    import inspect

    method = getattr(callback, "on_epoch_end", None)
    if not callable(method):
        raise BadType("callbacks", f"every callback needs on_epoch_end(), got {type(callback).__name__}")
    try:
        inspect.signature(method).bind(1, None, {})
    except TypeError as exc:
        raise BadType(
            "callbacks",
            f"{type(callback).__name__}.on_epoch_end must accept (epoch, trainer, logs): {exc}",
        ) from exc
    except ValueError:  # no signature to read (a builtin): accept it
        pass


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
    """The integer arguments of :meth:`~qgan_lab.training.trainer.QuantumGANTrainer.train`."""
    if not isinstance(resume, bool):
        raise BadType("resume", f"must be True or False, got {resume!r}")
    return (
        check_int("epochs", epochs),
        check_int("steps_per_epoch", steps_per_epoch),
        check_int("save_interval", save_interval),
        check_int("plot_interval", plot_interval),
    )


#: The largest seed: TensorFlow's random generators and stateless draws take 64-bit signed seeds.
MAX_SEED = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Rule:
    """How one argument is checked wherever it enters (Python keyword, TOML key, CLI flag).

    ``kind``: ``"int"`` (``low``/``high`` inclusive), ``"number"`` (a finite float in the
    interval; ``nonzero`` refuses 0), ``"str"`` (one of ``choices`` when given), or
    ``"numbers_or_auto"`` (a number, a list of numbers, or ``"auto"``)."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    nonzero: bool = False
    choices: tuple[str, ...] = ()


_POSITIVE = Rule("number", 0.0, low_open=True)
_FRACTION = Rule("number", 0.0, 1.0, high_open=True)  # a decay or momentum in [0, 1)
#: ONE table of argument checks, used by the trainer and models (Python keywords), the TOML
#: configs (``[section] key``) and the CLI flags (``--seed``): :func:`check`.
ARGUMENTS: dict[str, Rule] = {
    **{
        name: Rule("int", 1)
        for name in (
            "epochs",
            "steps_per_epoch",
            "batch_size",
            "validation_samples",
            "n_critic",
            "save_interval",
            "plot_interval",
            "n_modes",
            "layers",
            "latent_dim",
            "output_dim",
            "input_dim",
        )
    },
    # a Fock space needs |0> and |1> at least
    "cutoff_dim": Rule("int", 2),
    "seed": Rule("int", 0, MAX_SEED),  # (an int bound: a float would round it)
    "encoding_scale": _POSITIVE,
    "output_scale": Rule("number", nonzero=True),
    "passive_std": _POSITIVE,
    "active_std": _POSITIVE,
    "learning_rate_g": _POSITIVE,
    "learning_rate_d": _POSITIVE,
    "max_gradient_norm": _POSITIVE,
    "beta_1": _FRACTION,
    "ema_decay": _FRACTION,
    # the rate falls to lr_decay times its start: a factor in (0, 1]
    "lr_decay": Rule("number", 0.0, 1.0, low_open=True),
    "lambda_cutoff": Rule("number", 0.0),
    # traces of states lie in [0, 1]
    "trace_floor": Rule("number", 0.0, 1.0, low_open=True),
    "trace_threshold": Rule("number", 0.0, 1.0),
    "loss_type": Rule("str"),
    "encoding": Rule("str"),
    "readout": Rule("str"),
    "target": Rule("str"),
    "input_center": Rule("numbers_or_auto"),
    "input_width": Rule("numbers_or_auto"),
}


def check(name: str, value: Any, spelled: str | None = None) -> Any:
    """``value`` checked by ``ARGUMENTS[name]``; errors name the argument as ``spelled`` (default:
    ``name``, which :func:`spell` turns into the CLI flag inside :func:`cli_spelling`)."""
    rule, label = ARGUMENTS[name], spelled or name
    if rule.kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise BadType(label, f"must be an int >= {int(rule.low)}, got {value!r} ({type(value).__name__})")
        if not rule.low <= value <= rule.high:
            limits = f">= {int(rule.low)}" if rule.high == math.inf else f"in [{int(rule.low)}, {int(rule.high)}]"
            raise BadValue(label, f"must be an int {limits}, got {value!r}")
        return int(value)
    if rule.kind == "number":
        number = check_number(
            label, value, low=rule.low, high=rule.high, low_open=rule.low_open, high_open=rule.high_open
        )
        if rule.nonzero and number == 0:
            raise BadValue(label, "must be a finite non-zero number, got 0")
        return number
    if rule.kind == "numbers_or_auto":
        if value != "auto":
            for item in value if isinstance(value, (list, tuple)) else [value]:
                check_number(label, item)
        return value
    if not isinstance(value, str):
        raise BadType(label, f"must be a string, got {value!r} ({type(value).__name__})")
    if rule.choices and value not in rule.choices:
        raise BadValue(label, f"must be one of {list(rule.choices)}, got {value!r}")
    return value
