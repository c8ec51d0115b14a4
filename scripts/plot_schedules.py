# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Draws the README figure: LeRaC's per-depth multipliers for each schedule.

One panel per schedule on a linear axis, where the shapes differ, and a last
panel with the deepest depth under every schedule on a log axis, where the
orders of magnitude show.

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
  fig, axes = plt.subplots(2, 3, figsize=(10, 6), sharex=True)
  panels = axes.ravel()
  colors = plt.cm.viridis(np.linspace(0, 0.9, args.num_depths))
  deepest = {}
  for ax, name in zip(panels, names):
    curve = lerac_jax.Curriculum(
        curriculum_steps=k, schedule=name,
        min_scale=args.min_scale).curve(args.num_depths)
    values = np.stack([np.asarray(curve(t)) for t in steps])
    deepest[name] = values[:, -1]
    for j in range(args.num_depths):
      ax.plot(steps, values[:, j], color=colors[j], label=f"depth {j}")
    ax.axvline(k, color="grey", lw=0.8, ls="--")
    ax.set_ylim(-0.03, 1.05)
    ax.set_title(name + (" (Eq. 8, default)" if name == "exponential" else ""))
    ax.grid(alpha=0.3)
  panels[0].legend(fontsize=8, loc="upper left")
  last = panels[len(names)]
  for name, values in deepest.items():
    last.plot(steps, values, label=name)
  last.set_yscale("log")
  last.axvline(k, color="grey", lw=0.8, ls="--")
  last.set_title(f"depth {args.num_depths - 1} (deepest), log axis")
  last.grid(alpha=0.3)
  last.legend(fontsize=8, loc="lower right")
  for ax in axes[1]:
    ax.set_xlabel(f"optimizer step t (k = {k})")
  for ax in axes[:, 0]:
    ax.set_ylabel(r"multiplier $m_j(t) = \eta_j(t) / \eta_0$")
  fig.tight_layout()
  fig.savefig(args.out, dpi=100)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
