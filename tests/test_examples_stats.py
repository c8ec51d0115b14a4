# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests of examples/stats.py against hand-computed values."""

import math

import numpy as np
import pytest

from examples import stats


def _pairs(both, only_a, only_b, neither):
  a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
  b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
  return np.array(a, bool), np.array(b, bool)


def test_mcnemar_exact_by_hand():
  # 1 example only a gets right, 6 only b: the exact test is a two-sided
  # binomial test of 1 success in 7 at p = 1/2:
  # 2 * (C(7,0) + C(7,1)) / 2**7 = 2 * 8 / 128 = 0.125.
  a, b = _pairs(both=40, only_a=1, only_b=6, neither=3)
  r = stats.mcnemar(a, b)
  assert (r['only_a'], r['only_b']) == (1, 6)
  assert r['pvalue'] == pytest.approx(0.125)
  # 0 vs 5 discordant: 2 * 1 / 32 = 0.0625.
  a, b = _pairs(both=10, only_a=0, only_b=5, neither=0)
  assert stats.mcnemar(a, b)['pvalue'] == pytest.approx(0.0625)


def test_mcnemar_symmetric_and_identical():
  a, b = _pairs(both=5, only_a=3, only_b=3, neither=1)
  assert stats.mcnemar(a, b)['pvalue'] == pytest.approx(1.0)
  assert stats.mcnemar(a, a)['pvalue'] == 1.0
  with pytest.raises(ValueError):
    stats.mcnemar(a, a[:-1])


def test_mcnemar_table_layout():
  a, b = _pairs(both=4, only_a=3, only_b=2, neither=1)
  np.testing.assert_array_equal(stats.mcnemar_table(a, b), [[4, 3], [2, 1]])


def test_paired_tests_by_hand():
  a = [0.90, 0.92, 0.95]
  b = [0.89, 0.90, 0.92]
  r = stats.paired_tests(a, b)
  d = np.array(a) - np.array(b)  # 0.01, 0.02, 0.03
  t = d.mean() / (d.std(ddof=1) / math.sqrt(3))  # = 0.02 / (0.01/sqrt 3)
  from scipy import stats as sps
  assert r['t_pvalue'] == pytest.approx(2 * sps.t.sf(t, df=2))
  assert r['mean_diff'] == pytest.approx(0.02)
  # All three differences positive: exact Wilcoxon two-sided p = 2/8.
  assert r['wilcoxon_pvalue'] == pytest.approx(0.25)


def test_paired_tests_degenerate():
  r = stats.paired_tests([1.0], [0.5])
  assert math.isnan(r['t_pvalue']) and math.isnan(r['wilcoxon_pvalue'])


def _run(regime, seed, acc, correct):
  return {'regime': regime, 'seed': seed, 'metric': 'accuracy',
          'higher_is_better': True,
          'final': {'test': acc, 'test_correct': np.array(correct, bool)},
          'best': {'test': acc}}


def test_summarise_and_table():
  runs = [
      _run('conventional', 0, 0.5, [1, 0, 1, 0]),
      _run('conventional', 1, 0.75, [1, 1, 1, 0]),
      _run('lerac', 0, 0.75, [1, 1, 1, 0]),
      _run('lerac', 1, 1.0, [1, 1, 1, 1]),
  ]
  rows = stats.summarise(runs)
  assert [r['regime'] for r in rows] == ['conventional', 'lerac']
  lerac = rows[1]
  assert lerac['final']['mean'] == pytest.approx(0.875)
  assert lerac['final']['mean_diff'] == pytest.approx(0.25)
  # Each seed: one example only lerac gets right -> p = 1.
  assert lerac['mcnemar']['median_pvalue'] == pytest.approx(1.0)
  assert set(lerac['mcnemar']['per_seed']) == {0, 1}
  table = stats.format_table(rows)
  assert table.count('\n') == 3
  assert '| lerac | 87.50 ± 17.68 | +25.00 |' in table
