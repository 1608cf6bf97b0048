"""Headless training: ``python -m qgan_lab train --config bimodal [overrides]``; sweeps:
``python -m qgan_lab sweep SPEC.toml`` (:mod:`qgan_lab.sweep`; the spec: :mod:`qgan_lab.sweep.spec`).

Writes into ``--output-dir``: ``config.json`` (architecture), ``checkpoints/``, ``history.json``,
``plots/qgan_training_epoch_N.png``, ``final_generated_samples.npy``, ``evaluation.json``,
``report.txt`` and ``tensorboard/`` (training curves, where the ``tensorboard`` package is
installed; ``--no-tensorboard`` leaves them out). ``--resume`` continues a run from its newest
checkpoint. Taught in ``06_training_loop``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _flag(name: str):
    """An argparse type: an int checked by the shared table's rule for ``name``
    (:data:`qgan_lab.validation.ARGUMENTS`; argparse then names the flag in its error)."""
    from .validation import ARGUMENTS, check

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None
        try:
            return check(name, value)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(exc.detail) from None

    parse.__name__ = f"int >= {ARGUMENTS[name].low:.0f}"
    return parse


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as a Ctrl-C: the last finished epoch is saved before the process ends."""


def _terminate(_signum: int, _frame: Any) -> None:
    raise Terminated("SIGTERM")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qgan_lab", description="Train quantum GANs headlessly.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a QGAN from a preset or a TOML config")
    train.add_argument("--config", default="bimodal", help="preset name or path to a .toml file (default: bimodal)")
    train.add_argument("--epochs", type=_flag("epochs"), help="total epochs (a resumed run counts earlier ones)")
    train.add_argument("--steps-per-epoch", type=_flag("steps_per_epoch"))
    train.add_argument("--batch-size", type=_flag("batch_size"))
    train.add_argument("--loss-type", help="a loss name of qgan_lab.training.losses.make_loss (default: the config's)")
    train.add_argument("--seed", type=_flag("seed"))
    train.add_argument("--output-dir", default="runs/bimodal", help="where results go (default: runs/bimodal)")
    train.add_argument("--resume", action="store_true", help="continue the run in --output-dir")
    bars = train.add_mutually_exclusive_group()
    bars.add_argument("--progress", action="store_true", help="progress bars even when stderr is not a terminal")
    bars.add_argument("--no-progress", action="store_true", help="no progress bars (default when stderr is redirected)")
    train.add_argument(
        "--no-tensorboard", action="store_true", help="no TensorBoard curves (default: OUTPUT_DIR/tensorboard)"
    )
    sub.add_parser("presets", help="list the bundled presets")
    sweep = sub.add_parser("sweep", help="a sweep of trainings on Ray Tune, from a TOML spec (see qgan_lab.sweep.spec)")
    sweep.add_argument("spec", help="the sweep's .toml spec")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep in its output folder")
    sweep.add_argument(
        "--address", help="an existing Ray cluster: 'auto' (this node's) or 'ray://host:10001' (default: local Ray)"
    )
    sweep.add_argument("--output-dir", help="where the sweep goes (default: the spec's output_dir)")
    return parser


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only where they redraw in place: tqdm writes to stderr, and in a log file
    its carriage-return frames would pile up. ``--progress``/``--no-progress`` override."""
    if args.progress or args.no_progress:
        return bool(args.progress)
    return sys.stderr.isatty()


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train as the arguments say; returns the evaluation report."""
    from .config import load_config, with_overrides
    from .validation import BadValue

    if not args.output_dir.strip():  # Path("") would be the current folder
        raise BadValue("output_dir", f"must name a folder, got {args.output_dir!r}")

    cfg = with_overrides(
        load_config(args.config),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        loss_type=args.loss_type,
        seed=args.seed,
    )
    return run_config(
        cfg,
        args.output_dir,
        resume=args.resume,
        progress=show_progress(args),
        tensorboard=False if args.no_tensorboard else None,
    )


def run_config(
    cfg: dict[str, Any],
    output_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    tensorboard: bool | None = True,
    callbacks: list[Any] | None = None,
    finished_ok: bool = False,
) -> dict[str, Any]:
    """Train a checked config into ``output_dir``, evaluate, write the results and print the
    report: what ``train`` runs, and each trial of a sweep (:mod:`qgan_lab.sweep.tune`).

    ``tensorboard`` adds a :class:`~qgan_lab.training.tensorboard.TensorBoardLogger` writing to
    ``output_dir/tensorboard`` (None: where the ``tensorboard`` package is installed, else a
    warning); ``callbacks`` go before it. ``finished_ok`` (sweeps): a resumed
    run that has done all its epochs is evaluated instead of refused. Returns the report."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from .config import build
    from .training.checkpoints import atomic_write_text, latest_epoch
    from .training.evaluation import format_report
    from .validation import check_output_dir

    # a new run's folder is checked (created, probed) before the models are built; a resumed
    # run's folder is checked by the trainer, which first makes sure it holds a run
    output_dir = Path(output_dir) if resume else check_output_dir(Path(output_dir))
    trainer, data_generator, validation, centers = build(cfg)
    trainer.callbacks.extend(callbacks or [])
    if tensorboard or tensorboard is None:
        from .training.tensorboard import LOG_SUBDIR, TensorBoardLogger

        try:
            trainer.callbacks.append(TensorBoardLogger(output_dir / LOG_SUBDIR, centers))
        except ImportError as exc:
            if tensorboard:
                raise
            logging.getLogger(__name__).warning("no TensorBoard curves: %s", exc)
    train = cfg["training"]
    epochs = int(train["epochs"])
    started = time.perf_counter()
    finished = resume and _finish_evaluation(trainer, output_dir, epochs, data_generator)
    if not finished and finished_ok and resume and (latest_epoch(output_dir) or 0) >= epochs:
        trainer.restore(output_dir, data_generator)  # a sweep's finished trial: evaluated again, not refused
        finished = True
    if not finished:
        trainer.train(
            data_generator,
            epochs=epochs,
            steps_per_epoch=int(train["steps_per_epoch"]),
            latent_dim=trainer.latent_dim,
            validation_data=validation,
            save_interval=int(train.get("save_interval", 10)),
            plot_interval=int(train.get("plot_interval", 5)),
            output_dir=output_dir,
            resume=resume,
            progress=progress,
        )
    atomic_write_text(output_dir / "run_config.json", json.dumps(cfg, indent=2))
    report = trainer.evaluate(validation, centers, output_dir=output_dir)  # evaluation.json: written last
    report["wall_time_s"] = time.perf_counter() - started
    print(format_report(report), end="")
    print(f"wall time: {report['wall_time_s']:.1f} s; results in {output_dir}")
    return report


def _finish_evaluation(trainer: Any, output_dir: Path, epochs: int, data_generator: Any) -> bool:
    """``--resume`` on a run whose training reached ``epochs`` but whose evaluation is missing
    or incomplete (killed during it): restore the final checkpoint, so the evaluation is run.
    False where there is training left to do (or the evaluation is complete: then ``train``
    says the run is done)."""
    from .training import checkpoints

    newest = checkpoints.latest_epoch(output_dir)
    if newest is None or newest < epochs or checkpoints.evaluation_done(output_dir, newest):
        return False
    trainer.check_checkpoint_compatible(output_dir)
    done = trainer.restore(output_dir, data_generator)
    if done < epochs:  # the newest checkpoint was damaged: train from the intact one
        return False
    checkpoints.write_history(trainer, output_dir)  # (a kill may have come before its rewrite)
    print(f"training in {output_dir} finished at epoch {done}; its final evaluation is missing: evaluating now")
    return True


def _interrupted(output_dir: str) -> str:
    """What an interrupted run left in ``output_dir``, read from the folder itself."""
    from .training.checkpoints import latest_epoch

    newest = latest_epoch(output_dir) if output_dir.strip() else None
    if newest is None:
        return f"interrupted before any epoch was saved: nothing to resume in {output_dir}; start it again"
    return f"interrupted; epoch {newest} is saved in {output_dir}: continue with --resume"


def main(argv: list[str] | None = None, restore_signals: bool = True) -> int:
    """The command line; returns the exit code. ``restore_signals=False`` (the process's own
    entry point, ``python -m qgan_lab``): after an interruption Ctrl-C stays ignored until the
    process exits, so a late second Ctrl-C cannot turn exit code 130 into a death by SIGINT."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "presets":
        from .config import presets

        print("\n".join(presets()))
        return 0
    from .validation import cli_spelling

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    if main_thread:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        with cli_spelling():
            if args.command == "sweep":
                from .sweep.tune import run_sweep

                results = run_sweep(args.spec, resume=args.resume, address=args.address, output_dir=args.output_dir)
                return 1 if results.failed else 0
            run_train(args)
    except (ValueError, TypeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if main_thread:  # the emergency save is done: one more Ctrl-C must not cut this message
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if args.command == "sweep":
            print(f"interrupted; continue the sweep with: python -m qgan_lab sweep {args.spec} --resume")
        else:
            print(_interrupted(args.output_dir))
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        for sig, handler in previous.items() if restore_signals else ():  # (main() may run inside a test)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    return 0
