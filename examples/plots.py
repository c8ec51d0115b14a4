# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Figures of ``compare`` (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from examples import stats  # pylint: disable=g-import-not-at-top,wrong-import-position


def _by_regime(runs):
  out = {}
  for r in runs:
    out.setdefault(r['regime'], []).append(r)
  return out


def plot_lr_curves(runs: Sequence[dict[str, Any]], path: str) -> None:
  """Per-depth learning rates actually applied, one panel per regime.

  The rate of depth j at step t is the base schedule times the multiplier
  ``lerac_jax.current_scales`` read back from the optimizer state during
  training (``lr_log``), for the first seed of each regime.

  Args:
    runs: ``train.train_and_evaluate`` results.
    path: PNG file to write.
  """
  groups = _by_regime(runs)
  n = len(groups)
  cols = min(3, n)
  rows = int(np.ceil(n / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows),
                           squeeze=False, sharey=True)
  for ax, (regime, rs) in zip(axes.ravel(), groups.items()):
    log = min(rs, key=lambda r: r['seed'])['lr_log']
    steps = np.asarray(log['step'])
    lrs = np.asarray(log['lr'])[:, None] * np.asarray(log['scales'])
    depths = lrs.shape[1]
    colors = plt.cm.viridis(np.linspace(0, 0.95, depths))
    for j in range(depths):
      ax.plot(steps, np.maximum(lrs[:, j], 1e-12), color=colors[j], lw=1.2,
              label=f'depth {j}' if j in (0, depths - 1) else None)
    ax.set_yscale('log')
    ax.set_title(regime, fontsize=10)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, loc='lower right')
  for ax in axes[:, 0]:
    ax.set_ylabel('learning rate (applied)')
  for ax in axes.ravel()[n:]:
    ax.axis('off')
  fig.suptitle('Per-depth learning rate read back from the optimizer state '
               '(input = purple, head = yellow)', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def draw_learning_curves(ax, runs: Sequence[dict[str, Any]],
                         metric: str = 'accuracy') -> None:
  """One line per regime on ``ax``: mean over seeds and a ±1 std band.

  Args:
    ax: a matplotlib Axes.
    runs: ``train.train_and_evaluate`` results (``regime`` and ``history``).
    metric: ``'accuracy'`` or ``'bpc'``.
  """
  for regime, rs in _by_regime(runs).items():
    length = min(len(r['history']) for r in rs)
    steps = np.asarray([h['step'] for h in rs[0]['history'][:length]])
    vals = np.asarray([[h[f'val_{metric}'] for h in r['history'][:length]]
                       for r in rs])
    mean, std = vals.mean(0), vals.std(0)
    line, = ax.plot(steps, mean, marker='o', ms=3, lw=1.5,
                    label=f'{regime} (n={len(rs)})')
    ax.fill_between(steps, mean - std, mean + std, color=line.get_color(),
                    alpha=0.15, lw=0)


def plot_learning_curves(runs: Sequence[dict[str, Any]], path: str,
                         metric: str = 'accuracy') -> None:
  """Validation metric against step: mean over seeds and a ±1 std band.

  Args:
    runs: ``train.train_and_evaluate`` results.
    path: PNG file to write.
    metric: ``'accuracy'`` or ``'bpc'``.
  """
  fig, ax = plt.subplots(figsize=(7, 4.2))
  draw_learning_curves(ax, runs, metric)
  ax.set_xlabel('step')
  label = stats.metric_label(metric, runs[0]['higher_is_better'])
  ax.set_ylabel(f'validation {label}')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  # No zoom: the step-0 points (the untrained model) stay in view.
  ax.set_title(f'Validation {metric}: mean and ±1 std over seeds')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
