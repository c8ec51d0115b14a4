"""Draws the README figure: LeRaC's per-depth multipliers for each schedule.

Usage: python scripts/plot_schedules.py [--out docs/schedules.png]
"""

import argparse

import matplotlib
import numpy as np

import lerac_jax

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default="docs/schedules.png")
  parser.add_argument("--num_depths", type=int, default=6)
  parser.add_argument("--curriculum_steps", type=int, default=100)
  parser.add_argument("--min_scale", type=float, default=1e-6)
  args = parser.parse_args()

  k = args.curriculum_steps
  steps = np.arange(0, int(1.2 * k) + 1)
  names = lerac_jax.schedules.SCHEDULES
  fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4),
                           sharey=True)
  colors = plt.cm.viridis(np.linspace(0, 0.9, args.num_depths))
  for ax, name in zip(axes, names):
    curve = lerac_jax.schedules.make_curve(
        args.num_depths, curriculum_steps=k, schedule=name,
        min_scale=args.min_scale)
    values = np.stack([np.asarray(curve(t)) for t in steps])
    for j in range(args.num_depths):
      ax.plot(steps, values[:, j], color=colors[j], label=f"depth {j}")
    ax.set_yscale("log")
    ax.axvline(k, color="grey", lw=0.8, ls="--")
    ax.set_title(name + (" (Eq. 8, default)" if name == "exponential" else ""))
    ax.set_xlabel("optimizer step t (k = %d)" % k)
  axes[0].set_ylabel(r"multiplier $m_j(t) = \eta_j(t) / \eta_0$")
  axes[-1].legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  fig.savefig(args.out, dpi=110)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
