"""Headless training: ``python -m qgan_lab train --config bimodal [overrides]``.

Writes into ``--output-dir``: ``config.json`` (architecture), ``checkpoints/``, ``history.json``,
``plots/qgan_training_epoch_N.png``, ``final_generated_samples.npy``, ``evaluation.json`` and
``report.txt``. ``--resume`` continues a run from its newest checkpoint. Taught in
``06_training_loop``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any


def _int_from(minimum: int):
    """An argparse type: an int ``>= minimum`` (argparse then names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {value}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qgan_lab", description="Train quantum GANs headlessly.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a QGAN from a preset or a TOML config")
    train.add_argument("--config", default="bimodal", help="preset name or path to a .toml file (default: bimodal)")
    train.add_argument("--epochs", type=_int_from(1), help="total epochs (a resumed run counts earlier ones)")
    train.add_argument("--steps-per-epoch", type=_int_from(1))
    train.add_argument("--batch-size", type=_int_from(1))
    train.add_argument("--loss-type", help="a loss name of qgan_lab.losses.make_loss (default: the config's)")
    train.add_argument("--seed", type=_int_from(0))
    train.add_argument("--output-dir", default="runs/bimodal", help="where results go (default: runs/bimodal)")
    train.add_argument("--resume", action="store_true", help="continue the run in --output-dir")
    bars = train.add_mutually_exclusive_group()
    bars.add_argument("--progress", action="store_true", help="progress bars even when stderr is not a terminal")
    bars.add_argument("--no-progress", action="store_true", help="no progress bars (default when stderr is redirected)")
    sub.add_parser("presets", help="list the bundled presets")
    return parser


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only where they redraw in place: tqdm writes to stderr, and in a log file
    its carriage-return frames would pile up. ``--progress``/``--no-progress`` override."""
    if args.progress or args.no_progress:
        return bool(args.progress)
    return sys.stderr.isatty()


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train as the arguments say; returns the evaluation report."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from .checkpoints import atomic_write_text
    from .config import build, load_config, with_overrides
    from .evaluation import format_report
    from .validation import check_output_dir

    cfg = with_overrides(
        load_config(args.config),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        loss_type=args.loss_type,
        seed=args.seed,
    )
    # a new run's folder is checked (created, probed) before the models are built; a resumed
    # run's folder is checked by the trainer, which first makes sure it holds a run
    output_dir = Path(args.output_dir) if args.resume else check_output_dir(Path(args.output_dir))
    trainer, data_generator, validation, centers = build(cfg)
    train = cfg["training"]
    started = time.perf_counter()
    trainer.train(
        data_generator,
        epochs=int(train["epochs"]),
        steps_per_epoch=int(train["steps_per_epoch"]),
        latent_dim=trainer.latent_dim,
        validation_data=validation,
        save_interval=int(train.get("save_interval", 10)),
        plot_interval=int(train.get("plot_interval", 5)),
        output_dir=output_dir,
        resume=args.resume,
        progress=show_progress(args),
    )
    report = trainer.evaluate(validation, centers, output_dir=output_dir)
    report["wall_time_s"] = time.perf_counter() - started
    atomic_write_text(output_dir / "run_config.json", json.dumps(cfg, indent=2))
    print(format_report(report), end="")
    print(f"wall time: {report['wall_time_s']:.1f} s; results in {output_dir}")
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "presets":
        from .config import presets

        print("\n".join(presets()))
        return 0
    from .validation import cli_spelling

    try:
        with cli_spelling():
            run_train(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; the last finished epoch is saved: continue with --resume in {args.output_dir}")
        return 130
    return 0
