"""Checkpoints that survive a kill at any moment, and say what they could not read.

A run folder holds ``config.json`` (the architecture), ``history.json`` and, per saved
epoch ``N``, ``checkpoints/ckpt-N.index`` + ``ckpt-N.data-*`` (TensorFlow: both models, both
optimizers, the epoch, the trainer's random state) and ``checkpoints/state-N.json`` (history,
the data generator's random state, the gradient managers' counters, the run's seed and batch
size and learning rates, the architecture, a SHA-256 of every ``ckpt-N`` file, and a SHA-256 of
its own content, ``digest``). ``evaluation.json`` is written last by the final evaluation and
carries the digests of ``final_generated_samples.npy`` and ``report.txt``.

* **Atomic**: every file is written under a temporary name, flushed and renamed into place;
  the TensorFlow files are complete before the state file that points to them, so a
  ``state-N.json`` exists only for a checkpoint that was fully written.
* **Verified**: :func:`restore` checks the newest checkpoint's digests (its state file's own
  too: a hand-edited or damaged ``state-N.json`` is named) and falls back to the newest intact
  one with a warning that names the damaged files. ``config.json`` is a readable copy: where it
  disagrees with the architecture stored in the state files, it is named and theirs is used.
  :func:`evaluation_done` tells a finished run whose evaluation is missing.
* **Interrupts** are :mod:`qgan_lab.training.resume`'s: the last finished epoch kept in memory
  and written as an emergency checkpoint.
* **A full disk** (:class:`SaveError`): a checkpoint that cannot be written is removed, the
  error names the folder and the newest intact checkpoint, which is untouched.

Taught in ``07_evaluation_and_troubleshooting``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..validation import BadValue, spell

logger = logging.getLogger(__name__)

COUNTERS = ("total_steps", "nan_steps", "backup_steps", "clipped_steps", "skipped_steps")


# ---------------------------------------------------------------------- atomic files
def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover (platforms without directory handles)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # (a full disk leaves no half-written temporary behind)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode())


def atomic_save_npy(path: str | Path, array: Any) -> Path:
    """``np.save`` through :func:`atomic_write_bytes`."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return atomic_write_bytes(path, buffer.getvalue())


def jsonable(value: Any) -> Any:
    """``json.dumps`` default for numpy scalars and arrays."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _setting(name: str) -> str:
    """``name`` spelled for a "changed settings" list: ``seed=`` (Python) or ``--seed `` (CLI)."""
    spelled = spell(name)
    return spelled if spelled.endswith("=") else spelled + " "


def _ckpt_files(folder: Path, epoch: int) -> list[Path]:
    return sorted(p for p in folder.glob(f"ckpt-{epoch}.*") if p.suffix == ".index" or ".data-" in p.name)


def _architecture(trainer: Any) -> dict[str, Any]:
    return json.loads(json.dumps(trainer.architecture()))


def _content_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a state's content (its ``digest`` left out), in a canonical JSON form."""
    body = {k: v for k, v in state.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=jsonable).encode()).hexdigest()


class SaveError(BadValue):
    """A checkpoint could not be written (a full disk, a vanished folder); names ``output_dir``."""


def write_history(trainer: Any, output_dir: str | Path) -> None:
    """``history.json``: a readable copy of the history stored in the state files."""
    history = json.dumps(trainer.metrics_history, default=jsonable, indent=1)
    atomic_write_text(Path(output_dir) / "history.json", history)


# ---------------------------------------------------------------------- save
def save(trainer: Any, output_dir: str | Path, data_generator: Any = None) -> Path:
    """Write the trainer's checkpoint for its current epoch (see the module docstring)."""
    output_dir = Path(output_dir)
    epoch = int(trainer.epoch.numpy())
    try:
        return _save(trainer, output_dir, epoch, data_generator)
    except (OSError, tf.errors.OpError) as exc:
        folder = output_dir / "checkpoints"
        if not (folder / f"state-{epoch}.json").exists():  # half-written: remove, keep the rest
            for path in _ckpt_files(folder, epoch) if folder.is_dir() else []:
                path.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        intact = latest_epoch(output_dir)
        kept = f"the newest checkpoint, epoch {intact}, is intact" if intact else "no earlier checkpoint exists"
        raise SaveError(
            "output_dir",
            f"cannot write the checkpoint of epoch {epoch} into {output_dir} ({type(exc).__name__}: {reason}); "
            f"{kept}. Free space (or fix the folder) and continue with {spell('resume=True')}.",
        ) from exc


def _save(trainer: Any, output_dir: Path, epoch: int, data_generator: Any) -> Path:
    folder = output_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output_dir / "config.json", json.dumps(trainer.architecture(), indent=2))
    prefix = trainer.checkpoint.write(str(folder / f"ckpt-{epoch}"))
    files = {}
    for path in _ckpt_files(folder, epoch):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        files[path.name] = file_digest(path)
    _fsync_dir(folder)
    state = {
        "epoch": epoch,
        "history": trainer.metrics_history,
        "architecture": _architecture(trainer),
        "run": {
            "seed": trainer.seed,
            "batch_size": getattr(data_generator, "batch_size", None),
            "learning_rates": getattr(trainer, "base_learning_rates", None),
        },
        "gradient_managers": {
            "generator": {k: getattr(trainer.g_gradient_manager, k) for k in COUNTERS},
            "discriminator": {k: getattr(trainer.d_gradient_manager, k) for k in COUNTERS},
        },
        "files": files,
    }
    rng = getattr(data_generator, "rng", None)
    if rng is not None:
        state["data_rng"] = rng.bit_generator.state
    state = json.loads(json.dumps(state, default=jsonable))  # (the digest is of what is read back)
    state["digest"] = _content_digest(state)
    atomic_write_text(folder / f"state-{epoch}.json", json.dumps(state))
    write_history(trainer, output_dir)
    return Path(prefix)


# ---------------------------------------------------------------------- find and verify
def saved_epochs(output_dir: str | Path) -> list[int]:
    """Epochs with a state file or a checkpoint index in ``output_dir``, newest first."""
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    epochs = set()
    for path in [*folder.glob("state-*.json"), *folder.glob("ckpt-*.index")]:
        number = path.name.split("-", 1)[1].split(".", 1)[0]
        if number.isdigit():
            epochs.add(int(number))
    return sorted(epochs, reverse=True)


def latest_epoch(output_dir: str | Path) -> int | None:
    """The newest epoch with both a state file and a checkpoint index (not verified), or None."""
    folder = Path(output_dir) / "checkpoints"
    for epoch in saved_epochs(output_dir):
        if (folder / f"state-{epoch}.json").exists() and (folder / f"ckpt-{epoch}.index").exists():
            return epoch
    return None


def read_state(output_dir: str | Path, epoch: int) -> dict[str, Any]:
    """The verified state of ``epoch``; ``ValueError`` naming the damaged or missing file."""
    folder = Path(output_dir) / "checkpoints"
    state_path = folder / f"state-{epoch}.json"
    try:
        state = json.loads(state_path.read_text())
        if not isinstance(state, dict) or state.get("epoch") != epoch or "history" not in state:
            raise ValueError("not a state file of this epoch")
        if "digest" in state and state["digest"] != _content_digest(state):  # (older runs: none)
            raise ValueError("content does not match its own digest: hand-edited or damaged")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{state_path.name} ({exc})") from exc
    index = folder / f"ckpt-{epoch}.index"
    if not index.exists():
        raise ValueError(f"{index.name} (missing)")
    for name, digest in state.get("files", {}).items():  # runs saved before digests: not checked
        path = folder / name
        if not path.exists():
            raise ValueError(f"{name} (missing)")
        if file_digest(path) != digest:
            raise ValueError(f"{name} (content does not match its digest)")
    return state


def _is_architecture(value: Any) -> bool:
    return isinstance(value, dict) and {"generator", "discriminator", "loss_type"} <= set(value)


def _stored_architecture(output_dir: str | Path) -> tuple[str, dict[str, Any]] | None:
    """(file name, architecture) of the newest state file whose own digest holds, or None."""
    for epoch in saved_epochs(output_dir):
        path = Path(output_dir) / "checkpoints" / f"state-{epoch}.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(state, dict) or not _is_architecture(state.get("architecture")):
            continue
        if "digest" in state and state["digest"] != _content_digest(state):
            continue
        return path.name, state["architecture"]
    return None


def saved_architecture(output_dir: str | Path) -> dict[str, Any] | None:
    """The architecture of the run in ``output_dir``: the one stored (under a digest) in its
    newest intact state file; ``config.json`` only where no state file is readable. A damaged,
    hand-edited or wrongly shaped ``config.json`` is named in a warning. None for a folder
    without a run."""
    config = Path(output_dir) / "config.json"
    written: Any = None
    try:
        written = json.loads(config.read_text())
        if not _is_architecture(written):
            raise ValueError(f"a JSON {type(written).__name__}, not an architecture")
    except FileNotFoundError:
        written = None
    except (OSError, ValueError) as exc:
        logger.warning("%s is damaged (%s); using the architecture stored with the checkpoints", config, exc)
        written = None
    stored = _stored_architecture(output_dir)
    if stored is None:
        return written
    name, architecture = stored
    if written is not None and written != architecture:
        logger.warning(
            "%s differs from the architecture stored in %s (hand-edited or damaged); using the stored one "
            "(config.json is rewritten at the next save)",
            config,
            name,
        )
    return architecture


def check_compatible(trainer: Any, output_dir: str | Path) -> None:
    """``ValueError`` if ``output_dir`` holds a run of another architecture or loss."""
    saved = saved_architecture(output_dir)
    mine = _architecture(trainer)
    if saved is not None and saved != mine:
        differences = [k for k in mine if saved.get(k) != mine.get(k)]
        raise BadValue(
            "output_dir",
            f"the checkpoint folder {output_dir} was written for another architecture "
            f"(differs in {differences}): saved {saved}, this trainer {mine}. "
            f"Nothing was loaded or overwritten; use another {spell('output_dir')}.",
        )


def evaluation_done(output_dir: str | Path, epoch: int) -> bool:
    """Does ``output_dir`` hold the final evaluation of ``epoch``, every file matching its digest?"""
    output_dir = Path(output_dir)
    try:
        report = json.loads((output_dir / "evaluation.json").read_text())
        if not isinstance(report, dict) or report.get("epochs") != epoch:
            return False
        files = report.get("files") or {}
        return bool(files) and all(file_digest(output_dir / name) == digest for name, digest in files.items())
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------- restore
def restore(trainer: Any, output_dir: str | Path, data_generator: Any = None) -> int:
    """Load the newest intact checkpoint of ``output_dir`` into ``trainer``; returns its epoch
    (0 if the folder holds none). Damaged newer checkpoints are skipped with a warning that
    names their files; ``ValueError`` if checkpoints exist but none is intact."""
    check_compatible(trainer, output_dir)
    folder = Path(output_dir) / "checkpoints"
    mine = _architecture(trainer)
    damaged: list[str] = []
    for epoch in saved_epochs(output_dir):
        try:
            state = read_state(output_dir, epoch)
        except ValueError as exc:
            damaged.append(f"epoch {epoch}: {exc}")
            continue
        if state.get("architecture", mine) != mine:
            raise BadValue(
                "output_dir",
                f"checkpoint {epoch} in {output_dir} was written for another architecture "
                f"({state['architecture']}); this trainer is {mine}",
            )
        try:
            trainer.checkpoint.read(str(folder / f"ckpt-{epoch}")).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError) as exc:
            damaged.append(f"epoch {epoch}: ckpt-{epoch} ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            continue
        _apply_state(trainer, state, data_generator)
        if damaged:
            logger.warning(
                "Damaged checkpoints in %s skipped: %s. Restored the newest intact one, epoch %d.",
                output_dir,
                "; ".join(damaged),
                epoch,
            )
        logger.info("Restored %s at epoch %d", output_dir, epoch)
        return epoch
    if damaged:
        raise BadValue("output_dir", f"no intact checkpoint in {output_dir}: " + "; ".join(damaged))
    return 0


def _apply_state(trainer: Any, state: dict[str, Any], data_generator: Any) -> None:
    trainer.metrics_history = {k: list(v) for k, v in state["history"].items()}
    rng = getattr(data_generator, "rng", None)
    if rng is not None and "data_rng" in state:
        rng.bit_generator.state = state["data_rng"]
    for side, manager in (("generator", trainer.g_gradient_manager), ("discriminator", trainer.d_gradient_manager)):
        for key, value in state.get("gradient_managers", {}).get(side, {}).items():
            setattr(manager, key, int(value))
    run = state.get("run", {})
    batch_size = getattr(data_generator, "batch_size", None)
    changes = []
    # new learning rates given on resume are applied (and said): the trainer's arguments win
    mine = getattr(trainer, "base_learning_rates", None)
    for side, optimizer in (("g", trainer.g_optimizer), ("d", trainer.d_optimizer)):
        saved_rate = (run.get("learning_rates") or {}).get(side)
        if mine is not None and saved_rate is not None and saved_rate != mine[side]:
            changes.append(f"{_setting('learning_rate_' + side)}{saved_rate} -> {mine[side]} (applied)")
            optimizer.learning_rate = mine[side]
    if run.get("seed") is not None and run["seed"] != trainer.seed:
        changes.append(f"{_setting('seed')}{run['seed']} -> {trainer.seed}")
    if run.get("batch_size") is not None and batch_size is not None and run["batch_size"] != batch_size:
        changes.append(f"{_setting('batch_size')}{run['batch_size']} -> {batch_size}")
    if changes:
        logger.warning(
            "Resuming with changed settings (%s): the run will differ from an uninterrupted one.", ", ".join(changes)
        )
    trainer.resume_changes = changes
