# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Significance tests and the results table of ``compare``.

* Across seeds (paired by seed: same initial weights and batch order): the
  paired t-test (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank
  test (``scipy.stats.wilcoxon``) on the per-seed test metric. Each needs a
  minimum number of seeds (:data:`MIN_PAIRS`); below it no p-value is
  computed and the table says why:

  - paired t: 3 seeds. With 2 the statistic has one degree of freedom (a
    Cauchy null), and the p-value only says how alike the two differences
    happened to be (2 seeds can give p = 4e-5).
  - Wilcoxon (exact): 6 seeds. With n seeds the smallest two-sided p is
    2 / 2**n: 0.5 for 2, 0.25 for 3, 0.0625 for 5; from 6 (0.031) on it can
    fall below 0.05.
* Per example, for the same seed: McNemar's exact test
  (``statsmodels.stats.contingency_tables.mcnemar(exact=True)``) on the test
  predictions of a regime and of ``conventional``, as the LeRaC paper did.
  One p-value per seed. It is descriptive: it tests one pair of trained
  networks on the test examples, not the variation across seeds, and a
  median of such p-values is no test at all. The table counts the seeds
  with p < 0.05.
* Multiple comparisons: the t-test p-values of one table (every regime
  against the baseline) are adjusted together by Holm and by
  Benjamini-Hochberg (``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

# The fewest paired seeds each test is run on (see the module docstring).
MIN_PAIRS = {'t': 3, 'wilcoxon': 6}


def mcnemar_table(correct_a: np.ndarray, correct_b: np.ndarray) -> np.ndarray:
  """The 2x2 table [[both right, only a right], [only b right, both wrong]].

  Example:
    >>> mcnemar_table(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    array([[1, 1],
           [1, 1]])
  """
  a = np.asarray(correct_a, bool).ravel()
  b = np.asarray(correct_b, bool).ravel()
  if a.shape != b.shape:
    raise ValueError(f'prediction vectors differ in length: {a.shape} vs '
                     f'{b.shape}')
  return np.array([[np.sum(a & b), np.sum(a & ~b)],
                   [np.sum(~a & b), np.sum(~a & ~b)]])


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
  """McNemar's exact test on paired per-example correctness.

  The exact test is a two-sided binomial test of ``b`` successes out of
  ``b + c`` discordant examples at p = 1/2.

  Args:
    correct_a: per-example booleans, model a right.
    correct_b: per-example booleans, model b right (same examples).

  Returns:
    ``{'only_a': b, 'only_b': c, 'pvalue': p}``.
  """
  from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar  # pylint: disable=g-import-not-at-top
  table = mcnemar_table(correct_a, correct_b)
  only_a, only_b = int(table[0, 1]), int(table[1, 0])
  if only_a + only_b == 0:
    p = 1.0  # identical predictions on every example
  else:
    p = float(sm_mcnemar(table, exact=True).pvalue)
  return {'only_a': only_a, 'only_b': only_b, 'pvalue': p}


def paired_tests(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
  """Paired t-test and Wilcoxon signed-rank test of a vs b (paired by seed).

  Returns NaN p-values where a test is undefined (all differences zero) or
  has fewer pairs than :data:`MIN_PAIRS` asks for it; ``n_pairs`` says how
  many there were.

  Example:
    >>> r = paired_tests([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    >>> math.isnan(r['t_pvalue']), r['mean_diff']
    (True, 0.0)
    >>> r = paired_tests([0.91, 0.93], [0.90, 0.92])  # 2 seeds: no test
    >>> math.isnan(r['t_pvalue']), math.isnan(r['wilcoxon_pvalue'])
    (True, True)
  """
  from scipy import stats as sps  # pylint: disable=g-import-not-at-top
  a = np.asarray(a, float)
  b = np.asarray(b, float)
  d = a - b
  out = {'mean_diff': float(np.mean(d)) if len(d) else math.nan,
         't_pvalue': math.nan, 'wilcoxon_pvalue': math.nan,
         'n_pairs': len(d)}
  if np.allclose(d, 0):
    return out
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    if len(d) >= MIN_PAIRS['t'] and np.std(d) > 0:
      out['t_pvalue'] = float(sps.ttest_rel(a, b).pvalue)
    if len(d) >= MIN_PAIRS['wilcoxon']:
      try:
        out['wilcoxon_pvalue'] = float(sps.wilcoxon(a, b).pvalue)
      except ValueError:
        pass
  return out


def adjust_pvalues(pvalues: Sequence[float], method: str) -> list[float]:
  """Multiple-comparison adjusted p-values; NaNs stay NaN, out of the family.

  Args:
    pvalues: raw p-values of one family of tests (NaN: an undefined test).
    method: a ``statsmodels.stats.multitest.multipletests`` method, e.g.
      ``'holm'`` or ``'fdr_bh'`` (Benjamini-Hochberg).

  Returns:
    The adjusted p-values, in the same order.

  Example:
    >>> [round(p, 3) for p in adjust_pvalues([0.01, 0.04, 0.03], 'holm')]
    [0.03, 0.06, 0.06]
    >>> [round(p, 3) for p in adjust_pvalues([0.01, math.nan], 'fdr_bh')]
    [0.01, nan]
  """
  from statsmodels.stats.multitest import multipletests  # pylint: disable=g-import-not-at-top
  p = np.asarray(pvalues, float)
  out = np.full(p.shape, math.nan)
  defined = ~np.isnan(p)
  if defined.any():
    out[defined] = multipletests(p[defined], method=method)[1]
  return [float(v) for v in out]


def _mean_std(x):
  x = np.asarray(x, float)
  return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def summarise(runs: Sequence[dict[str, Any]],
              baseline: str = 'conventional') -> list[dict[str, Any]]:
  """Per-regime statistics of ``train.train_and_evaluate`` results.

  Args:
    runs: one result dict per (regime, seed).
    baseline: the regime the others are compared with.

  Returns:
    One row per regime (in first-seen order) with the final-epoch and the
    best-validation-epoch test metric (mean, std, per seed), the paired
    differences from the baseline with t-test and Wilcoxon p-values, the
    t-test p-values adjusted by Holm (``t_pvalue_holm``) and by
    Benjamini-Hochberg (``t_pvalue_bh``) over the family of this call's
    t-tests (one per non-baseline regime, final and best-val epoch
    separately), and McNemar p-values per seed (final epoch), with their
    median and the number of seeds with p < 0.05 (``seeds_below_05``).
  """
  regimes = list(dict.fromkeys(r['regime'] for r in runs))
  by = {(r['regime'], r['seed']): r for r in runs}
  rows = []
  for regime in regimes:
    seeds = sorted(s for (g, s) in by if g == regime)
    row = {'regime': regime, 'seeds': seeds, 'metric': runs[0]['metric'],
           'higher_is_better': runs[0]['higher_is_better']}
    for which in ('final', 'best'):
      vals = [by[(regime, s)][which]['test'] for s in seeds]
      mean, std = _mean_std(vals)
      row[which] = {'per_seed': vals, 'mean': mean, 'std': std}
      paired = [s for s in seeds if (baseline, s) in by]
      if regime != baseline and paired:
        row[which].update(paired_tests(
            [by[(regime, s)][which]['test'] for s in paired],
            [by[(baseline, s)][which]['test'] for s in paired]))
    if regime != baseline:
      per_seed = {}
      for s in seeds:
        base = by.get((baseline, s))
        mine = by[(regime, s)]['final']['test_correct']
        if base is not None and mine is not None:
          per_seed[s] = mcnemar(mine, base['final']['test_correct'])
      row['mcnemar'] = {
          'per_seed': per_seed,
          'median_pvalue': (float(np.median([v['pvalue'] for v in
                                             per_seed.values()]))
                            if per_seed else math.nan),
          'seeds_below_05': sum(v['pvalue'] < 0.05
                                for v in per_seed.values())}
    rows.append(row)
  for which in ('final', 'best'):
    tested = [r[which] for r in rows if 'mean_diff' in r[which]]
    raw = [t.get('t_pvalue', math.nan) for t in tested]
    for method, key in (('holm', 't_pvalue_holm'), ('fdr_bh', 't_pvalue_bh')):
      for t, p in zip(tested, adjust_pvalues(raw, method)):
        t[key] = p
  return rows


def format_p(p: float) -> str:
  """A p-value for a table: 2 significant digits, 'n/a' when undefined."""
  if p is None or math.isnan(p):
    return 'n/a'
  return f'{p:.2g}' if p >= 1e-3 else f'{p:.1e}'


def format_test_p(result: dict[str, Any], key: str, test: str) -> str:
  """A p-value cell, saying when too few seeds kept the test from running.

  Example:
    >>> format_test_p({'wilcoxon_pvalue': math.nan, 'n_pairs': 3},
    ...               'wilcoxon_pvalue', 'wilcoxon')
    'n/a (3 seeds < 6)'
  """
  p = result.get(key, math.nan)
  n = result.get('n_pairs')
  if (p is None or math.isnan(p)) and n is not None and n < MIN_PAIRS[test]:
    return f'n/a ({n} seeds < {MIN_PAIRS[test]})'
  return format_p(p)


def metric_label(metric: str, higher_is_better: bool,
                 percent: bool = False) -> str:
  """A metric's name with the direction that is better.

  Args:
    metric: ``'accuracy'`` or ``'bpc'`` (bits per character).
    higher_is_better: the direction.
    percent: the values are shown in percent.

  Returns:
    The label, e.g. ``'accuracy % (higher is better)'``.

  Example:
    >>> metric_label('bpc', False)
    'bits/char (lower is better)'
  """
  name = {'bpc': 'bits/char'}.get(metric, metric) + (' %' if percent else '')
  return f"{name} ({'higher' if higher_is_better else 'lower'} is better)"


def format_table(rows: Sequence[dict[str, Any]],
                 baseline: str = 'conventional') -> str:
  """A Markdown table of :func:`summarise` rows (also printed as is).

  The Holm and Benjamini-Hochberg columns adjust the final-epoch t-tests of
  this table (every regime against the baseline) as one family. The metric
  is named with the direction that is better (``test accuracy % (higher is
  better)``).

  Args:
    rows: the rows of :func:`summarise`.
    baseline: the regime the differences are taken from.

  Returns:
    The table, one line per regime.
  """
  if not rows:
    return ''
  lm = rows[0]['metric'] == 'bpc'
  scale, unit = (1.0, 'bpc') if lm else (100.0, 'acc %')
  unit = metric_label(rows[0]['metric'], rows[0]['higher_is_better'],
                      percent=not lm)
  digits = 3 if lm else 2
  head = (f'| regime | test {unit}, final epoch | diff vs {baseline} '
          f'| paired t p | t p, Holm | t p, BH | Wilcoxon p '
          f'| McNemar (descriptive): seeds with p < 0.05 '
          f'| test {unit}, best-val epoch | diff (best-val) |')
  lines = [head, '|' + '---|' * 10]
  for r in rows:
    f, b = r['final'], r['best']
    cells = [r['regime'],
             f"{f['mean'] * scale:.{digits}f} ± {f['std'] * scale:.{digits}f}"]
    if r['regime'] == baseline:
      cells += [''] * 6
    else:
      mc = r.get('mcnemar', {})
      cells += [f"{f.get('mean_diff', math.nan) * scale:+.{digits}f}",
                format_test_p(f, 't_pvalue', 't'),
                format_test_p(f, 't_pvalue_holm', 't'),
                format_test_p(f, 't_pvalue_bh', 't'),
                format_test_p(f, 'wilcoxon_pvalue', 'wilcoxon'),
                (f"{mc['seeds_below_05']} of {len(mc['per_seed'])}"
                 if mc.get('per_seed') else 'n/a')]
    cells.append(
        f"{b['mean'] * scale:.{digits}f} ± {b['std'] * scale:.{digits}f}")
    cells.append('' if r['regime'] == baseline else
                 f"{b.get('mean_diff', math.nan) * scale:+.{digits}f}")
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def paired_contrast(a: Sequence[float], b: Sequence[float],
                    margin: float) -> dict[str, Any]:
  """Mean paired difference a - b with its 95% t interval, t, TOST, Wilcoxon.

  The TOST equivalence test (``statsmodels`` ``ttost_paired``) asks whether
  the mean difference lies within ``(-margin, margin)``.

  Args:
    a: one arm's per-seed values.
    b: the other arm's, paired by seed.
    margin: the equivalence margin, in the units of ``a`` and ``b``.

  Returns:
    ``n``, ``mean_diff``, ``ci_low``, ``ci_high``, ``t_p``, ``tost_p`` and
    ``wilcoxon_p``; NaN where a test is undefined (fewer than 2 pairs, or
    every difference equal).

  Example:
    >>> r = paired_contrast([1., 2., 3., 4.], [1., 2., 3., 3.], margin=0.5)
    >>> r['mean_diff'], r['n']
    (0.25, 4)
  """
  from scipy import stats as sps  # pylint: disable=g-import-not-at-top
  from statsmodels.stats.weightstats import ttost_paired  # pylint: disable=g-import-not-at-top
  a, b = np.asarray(a, float), np.asarray(b, float)
  d = a - b
  n = len(d)
  mean = float(np.mean(d))
  out = {'n': n, 'mean_diff': mean, 'ci_low': math.nan, 'ci_high': math.nan,
         't_p': math.nan, 'tost_p': math.nan, 'wilcoxon_p': math.nan}
  if n < 2 or np.allclose(d, d[0]):
    return out
  sem = float(np.std(d, ddof=1) / math.sqrt(n))
  half = float(sps.t.ppf(0.975, n - 1)) * sem
  out.update(ci_low=mean - half, ci_high=mean + half,
             t_p=float(sps.ttest_rel(a, b).pvalue),
             tost_p=float(ttost_paired(a, b, -margin, margin)[0]))
  if not np.allclose(d, 0):
    out['wilcoxon_p'] = float(sps.wilcoxon(a, b).pvalue)
  return out
