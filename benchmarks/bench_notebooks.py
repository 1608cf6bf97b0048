"""Wall time of every notebook at full size on one CPU core, as a Binder learner gets it.

    python benchmarks/bench_notebooks.py [--cpu 0] [--fast] [--save DIR] [NN_name.ipynb ...]

Executes each notebook top to bottom in a fresh kernel (``nbclient``) with ``QGAN_LAB_FAST=0``
(``--fast``: 1, to check the tool quickly), the process and its kernels pinned to one core, and
prints a Markdown table: wall time, the budget (3 minutes; the training notebook 6), and how many
outputs a learner would read as errors (stderr text or an exception). Exits 1 if a notebook
fails, is over budget, or shows such an output. ``make notebooks-full`` runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUDGET_S = {"06_training_loop.ipynb": 360}
DEFAULT_BUDGET_S = 180


def error_looking_outputs(notebook) -> list[str]:
    """Texts of the outputs shown as errors: stderr streams and exceptions."""
    found = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"{out['ename']}: {out['evalue']}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(out["text"][:200])
    return found


def run(path: Path, timeout_s: int, save_dir: Path | None = None) -> tuple[float, list[str], str | None]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    began = time.perf_counter()
    failure = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failure = str(exc).strip().splitlines()[-1][:200]
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save_dir / path.name)
    return time.perf_counter() - began, error_looking_outputs(notebook), failure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="file names in notebooks/ (default: all)")
    parser.add_argument("--cpu", type=int, default=0, help="the one core to run on (default 0)")
    parser.add_argument("--fast", action="store_true", help="QGAN_LAB_FAST=1 (checks the tool, not the budget)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell before giving up")
    parser.add_argument("--save", type=Path, help="write the executed notebooks (with outputs) to this folder")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})  # the kernels inherit it
    os.environ.update(
        QGAN_LAB_FAST="1" if args.fast else "0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    )
    names = args.notebooks or sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    mode = "fast (QGAN_LAB_FAST=1)" if args.fast else "full size (QGAN_LAB_FAST=0)"
    print(f"{len(names)} notebooks, {mode}, one core (CPU {args.cpu}):\n", flush=True)
    print("| notebook | wall time | budget | within budget | error-looking outputs |")
    print("|---|---|---|---|---|", flush=True)
    ok = True
    for name in names:
        wall, errors, failure = run(NOTEBOOKS / name, args.timeout, args.save)
        budget = BUDGET_S.get(name, DEFAULT_BUDGET_S)
        within = wall <= budget and failure is None
        ok &= within and not errors
        note = f"FAILED: {failure}" if failure else ("yes" if within else "**no**")
        print(f"| `{name.removesuffix('.ipynb')}` | {wall:.0f} s | {budget} s | {note} | {len(errors)} |", flush=True)
        for text in errors:
            print(f"    {name}: {text!r}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
