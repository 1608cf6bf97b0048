"""Which critic can tell the bimodal target from a single Gaussian? A capacity table.

For every readout x reupload x layers it prints:

* ``mse`` - regression of sin(pi x) on [-1, 1] (1 mode, ``--reg-cutoff``), :func:`fit_function`;
* ``w_test`` - held-out Wasserstein estimate of a WGAN-GP critic (2 modes, ``--cutoff``)
  trained between the ``bimodal`` target and the Gaussian with the same mean and covariance,
  :func:`critic_separation` (an affine critic scores about 0);
* ``min_trace`` - smallest norm of the critic's state on 512 target samples (below 1: photons
  lost past the cutoff); ``w_c+8`` - ``w_test`` of the trained weights rerun at cutoff + 8 (far
  from ``w_test``: the critic's "nonlinearity" was a truncation artefact);
* ``ms/step`` - median time of one compiled critic step (forward, penalty, update), batch ``--batch``.

Example: ``python benchmarks/critic_capacity.py --readouts mean photon_number --layers 1 2``.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import tensorflow as tf
from scipy.optimize import linear_sum_assignment

import qgan_lab  # noqa: F401  (first)
from qgan_lab.data import get_target
from qgan_lab.models import PureQuantumDiscriminator
from qgan_lab.models.readouts import READOUTS
from qgan_lab.training.capacity import critic_separation, fit_function, matched_gaussian, wasserstein_estimate


def empirical_w1(n: int = 1000, seed: int = 0) -> float:
    """Exact W1 between ``n`` bimodal samples and ``n`` matched-Gaussian samples (reference)."""
    rng = np.random.default_rng(seed)
    real = get_target("bimodal").sample(n, rng)
    mean, cov = matched_gaussian("bimodal")
    fake = rng.multivariate_normal(mean, cov, n)
    cost = np.linalg.norm(real[:, None] - fake[None], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readouts", nargs="+", default=list(READOUTS), choices=READOUTS)
    parser.add_argument("--reupload", nargs="+", default=["0", "1"], choices=["0", "1"])
    parser.add_argument("--layers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--cutoff", type=int, default=8, help="cutoff of the 2-mode separation critic")
    parser.add_argument("--reg-cutoff", type=int, default=10, help="cutoff of the 1-mode regression")
    parser.add_argument("--reg-layers", type=int, default=None, help="regression layers (default: --layers)")
    parser.add_argument("--reg-steps", type=int, default=300)
    parser.add_argument("--reg-lr", type=float, default=0.05)
    parser.add_argument("--reg-scale", type=float, default=1.0, help="encoding_scale of the regression")
    parser.add_argument("--steps", type=int, default=300, help="critic steps of the separation test")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--scale", type=float, default=0.5, help="encoding_scale of the separation critic")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-regression", action="store_true")
    parser.add_argument("--skip-separation", action="store_true")
    args = parser.parse_args()

    if not args.skip_separation:
        print(f"reference: exact W1 (1000 vs 1000 samples) bimodal vs matched Gaussian = {empirical_w1():.3f}")
    print(
        f"{'readout':<14}{'reupload':>9}{'layers':>7}{'mse':>9}{'w_test':>9}{'ms/step':>9}{'min_trace':>10}{'w_c+8':>8}"
    )
    for readout, reupload, layers in itertools.product(args.readouts, args.reupload, args.layers):
        reupload = reupload == "1"
        if reupload and layers == 1:
            continue  # one layer: re-uploading changes nothing
        mse = w_test = ms = trace = float("nan")
        if not args.skip_regression:
            reg = PureQuantumDiscriminator(
                1,
                1,
                args.reg_layers or layers,
                args.reg_cutoff,
                readout=readout,
                reupload=reupload,
                encoding_scale=args.reg_scale,
                seed=args.seed,
            )
            mse = fit_function(reg, steps=args.reg_steps, learning_rate=args.reg_lr, seed=args.seed)["mse"]
        if not args.skip_separation:
            critic = PureQuantumDiscriminator(
                2, 2, layers, args.cutoff, readout=readout, reupload=reupload, encoding_scale=args.scale, seed=args.seed
            )
            result = critic_separation(
                critic, steps=args.steps, batch_size=args.batch, learning_rate=args.lr, seed=args.seed
            )
            ms = 1000 * result["step_seconds"]
            w_test = result["w_test"]
            data = get_target("bimodal").sample(512, np.random.default_rng(1))
            trace = float(np.min(critic._forward_impl(tf.constant(data))["trace"]))
            w_big = float("nan")  # the trained weights at a higher cutoff: did it exploit truncation?
            if readout != "fock":
                big = PureQuantumDiscriminator(
                    2, 2, layers, args.cutoff + 8, readout=readout, reupload=reupload, encoding_scale=args.scale
                )
                big.set_weights(critic.get_weights())
                w_big = wasserstein_estimate(big, seed=args.seed + 1)
        print(
            f"{readout:<14}{reupload!s:>9}{layers:>7}{mse:>9.4f}{w_test:>9.3f}{ms:>9.1f}{trace:>10.3f}{w_big:>8.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
