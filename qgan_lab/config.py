"""Run configurations: TOML presets (``qgan_lab/presets``) or files, validated.

Used by the headless command (:mod:`qgan_lab.cli`) and ``06_training_loop``.
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .training.losses import LOSS_TYPES, check_loss
from .validation import ARGUMENTS, BadValue, check

logger = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).parent / "presets"
SECTIONS = {
    "data": {"target", "batch_size", "validation_samples"},
    "generator": {
        "latent_dim",
        "output_dim",
        "n_modes",
        "layers",
        "cutoff_dim",
        "encoding_scale",
        "output_scale",
        "passive_std",
        "active_std",
        "readout",
    },
    "discriminator": {
        "input_dim",
        "n_modes",
        "layers",
        "cutoff_dim",
        "encoding_scale",
        "output_scale",
        "passive_std",
        "active_std",
        "readout",
        "reupload",
        "encoding",
        "input_center",
        "input_width",
    },
    "training": {
        "loss_type",
        "epochs",
        "steps_per_epoch",
        "n_critic",
        "learning_rate_g",
        "learning_rate_d",
        "beta_1",
        "lr_decay",
        "lambda_cutoff",
        "ema_decay",
        "save_interval",
        "plot_interval",
        "seed",
    },
    "loss": None,  # free: keyword arguments of the loss class
}


def presets() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_config(config: str | Path) -> dict[str, Any]:
    """A preset name (``"bimodal"``) or a TOML file path, checked for unknown sections and keys."""
    path = Path(config)
    if path.is_dir():
        raise BadValue("config", f"{path} is a folder; give a .toml file or a preset name")
    if not path.suffix:
        if str(config) not in presets():
            raise BadValue("config", f"unknown preset {config!r}; presets: {presets()} (or give a .toml path)")
        path = PRESETS_DIR / f"{config}.toml"
    cfg = read_toml(path, "config")
    validate_config(cfg)
    return cfg


def read_toml(path: Path, argument: str) -> dict[str, Any]:
    """A TOML file's tables; ``BadValue`` naming ``argument`` if it is missing or not TOML."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise BadValue(argument, f"{argument} file {path} {what}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BadValue(
            argument, f"{argument} file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise BadValue(argument, f"cannot read {argument} file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadValue(argument, f"{argument} file {path} is not valid TOML: {exc}") from exc


def validate_config(cfg: dict[str, Any]) -> None:
    """``ValueError`` naming any unknown or missing section or key; ``TypeError``/``ValueError``
    naming (``[section] key``) any value of the wrong type or range (:mod:`qgan_lab.validation`)."""
    unknown = set(cfg) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}; expected {sorted(SECTIONS)}")
    for section, keys in SECTIONS.items():
        if section not in cfg:
            if section == "loss":
                continue
            raise ValueError(f"config is missing the [{section}] section")
        if keys is not None:
            extra = set(cfg[section]) - keys
            if extra:
                raise ValueError(f"unknown keys {sorted(extra)} in [{section}]; allowed: {sorted(keys)}")
    check_config_values(cfg)


def with_overrides(cfg: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A copy with ``training``/``data`` values replaced where an override is not None."""
    out = copy.deepcopy(cfg)
    for key, value in overrides.items():
        if value is None:
            continue
        section = "data" if key in SECTIONS["data"] else "training"
        if key not in SECTIONS[section]:
            raise ValueError(f"cannot override {key!r}")
        # named as the override was given (``--seed`` inside the CLI), not as a TOML key
        out[section][key] = check_loss_name(value) if key == "loss_type" else check(key, value)
    check_config_values(out)
    return out


def check_loss_name(loss_type: Any, spelled: str = "loss_type") -> str:
    """``loss_type`` must be one of :data:`qgan_lab.training.losses.LOSS_TYPES`."""

    check("loss_type", loss_type, spelled)
    if loss_type not in LOSS_TYPES:
        raise BadValue(spelled, f"must be one of {list(LOSS_TYPES)}, got {loss_type!r}")
    return loss_type


def loss_kwargs(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """Keyword arguments of the loss class: ``[loss.<loss_type>]`` (a table per loss type), or a
    flat ``[loss]`` table, which belongs to the Wasserstein loss (the guide's presets)."""
    section, loss_type = cfg.get("loss") or {}, cfg["training"].get("loss_type", "wasserstein")
    if any(isinstance(value, dict) for value in section.values()):
        return dict(section.get(loss_type, {})) or None
    if section and loss_type != "wasserstein":
        logger.warning(
            "the flat [loss] table (%s) belongs to the Wasserstein loss and is not used with loss_type = %r; "
            "put this loss's arguments in a [loss.%s] table",
            ", ".join(sorted(section)),
            loss_type,
            loss_type,
        )
    return dict(section) if loss_type == "wasserstein" and section else None


#: ``input_width = "auto"``: the critic's squashing width, in standard deviations of each feature
AUTO_WIDTH_STDS = 2.0
#: samples of the target that ``"auto"`` reads (a fixed seed of their own: the training data's
#: random stream is not touched)
AUTO_SAMPLES = 4096


def derive_input_range(section: dict[str, Any], target: Any) -> dict[str, Any]:
    """The ``[discriminator]`` keyword arguments with ``input_center = "auto"`` / ``input_width =
    "auto"`` replaced by numbers read from the target: each feature's mean, and
    :data:`AUTO_WIDTH_STDS` times its standard deviation. Nothing is tuned per target by hand:
    the bounded encodings then see every target's data in the same near-linear range."""
    out = dict(section)
    if "auto" not in (out.get("input_center"), out.get("input_width")):
        return out
    import numpy as np

    from .data import get_target

    sample = np.asarray(get_target(target).sample(AUTO_SAMPLES, np.random.default_rng(20_261_207)), np.float64)
    if out.get("input_center") == "auto":
        out["input_center"] = sample.mean(axis=0).tolist()
    if out.get("input_width") == "auto":
        out["input_width"] = (AUTO_WIDTH_STDS * sample.std(axis=0)).tolist()
    return out


def check_target(target: str, output_dim: int, input_dim: int) -> None:
    """``[data] target`` must be a known target with as many features as the models'."""
    from .data import get_target

    try:
        dim = get_target(target).dim
    except (KeyError, ValueError) as exc:
        raise BadValue("[data] target", str(exc)) from exc
    if dim != output_dim or dim != input_dim:
        raise BadValue(
            "[data] target",
            f"{target!r} has {dim} features, but [generator] output_dim = {output_dim} and "
            f"[discriminator] input_dim = {input_dim}; choose a {dim}-feature model or another target",
        )


def trainer_for(cfg: dict[str, Any], generator: Any, discriminator: Any):
    """A :class:`~qgan_lab.training.trainer.QuantumGANTrainer` for these two models with the config's
    ``[training]`` game and ``[loss]`` (the models may be any with the trainer's interface, e.g.
    the classical controls of :mod:`qgan_lab.models.classical`)."""
    from .training.trainer import QuantumGANTrainer

    train = cfg["training"]
    return QuantumGANTrainer(
        generator,
        discriminator,
        train.get("loss_type", "wasserstein"),
        n_critic=int(train.get("n_critic", 5)),
        learning_rate_g=float(train.get("learning_rate_g", 1e-3)),
        learning_rate_d=float(train.get("learning_rate_d", 1e-3)),
        beta_1=float(train.get("beta_1", 0.5)),
        lr_decay=float(train.get("lr_decay", 1.0)),
        lambda_cutoff=float(train.get("lambda_cutoff", 0.0)),
        ema_decay=float(train.get("ema_decay", 0.0)),
        loss_kwargs=loss_kwargs(cfg),
        seed=int(train.get("seed", 0)),
    )


def build(cfg: dict[str, Any]):
    """Models, trainer, data generator, validation set and mixture centres from a config."""
    from .data import centers_of, make_data_generator, validation_set
    from .models import PureQuantumDiscriminator, PureQuantumGenerator

    data = cfg["data"]
    seed = int(cfg["training"].get("seed", 0))
    check_target(data["target"], cfg["generator"].get("output_dim", 2), cfg["discriminator"].get("input_dim", 2))
    generator = PureQuantumGenerator(seed=seed, **cfg["generator"])
    discriminator = PureQuantumDiscriminator(seed=seed + 1, **derive_input_range(cfg["discriminator"], data["target"]))
    trainer = trainer_for(cfg, generator, discriminator)
    data_generator = make_data_generator(data["target"], int(data["batch_size"]), seed=seed)
    validation = validation_set(data["target"], int(data.get("validation_samples", 5000)))
    return trainer, data_generator, validation, centers_of(data["target"])


def check_config_values(cfg: dict[str, Any]) -> None:
    """Type and range of every key of a config that has an :data:`ARGUMENTS` rule (the same
    rule as the Python keyword of that name); the argument is named ``[section] key``."""
    for section in ("data", "generator", "discriminator", "training"):
        for key, value in (cfg.get(section) or {}).items():
            if key in ARGUMENTS:
                check(key, value, f"[{section}] {key}")
    loss_type = (cfg.get("training") or {}).get("loss_type")
    if loss_type is not None and loss_type not in LOSS_TYPES:
        raise BadValue("[training] loss_type", f"must be one of {list(LOSS_TYPES)}, got {loss_type!r}")
    loss = cfg.get("loss") or {}
    tables = {f"[loss.{k}]": v for k, v in loss.items() if isinstance(v, dict)} or {"[loss]": loss}
    for table, values in tables.items():
        kind = table[len("[loss.") : -1] if table != "[loss]" else "wasserstein"  # flat: the Wasserstein loss's
        if kind in LOSS_TYPES:  # keys, types and ranges as the loss class takes them
            if values:
                check_loss(kind, values, "[training] loss_type", table)
            continue
        for key, value in values.items():
            items = value if isinstance(value, list) else [value]
            if any(
                isinstance(v, (str, bool, dict)) or (isinstance(v, numbers.Real) and not math.isfinite(v))
                for v in items
            ):
                raise BadValue(f"{table} {key}", f"must be a finite number (or a list of them), got {value!r}")
