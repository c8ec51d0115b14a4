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
  # 3 seeds: too few for Wilcoxon (its smallest p would be 2/8 = 0.25).
  assert math.isnan(r['wilcoxon_pvalue']) and r['n_pairs'] == 3
  # Six differences, all positive: exact Wilcoxon two-sided p = 2/64.
  r = stats.paired_tests([0.90, 0.92, 0.95, 0.91, 0.93, 0.96],
                         [0.89, 0.905, 0.92, 0.9, 0.905, 0.92])
  assert r['wilcoxon_pvalue'] == pytest.approx(2 / 64)


def test_paired_tests_degenerate():
  r = stats.paired_tests([1.0], [0.5])
  assert math.isnan(r['t_pvalue']) and math.isnan(r['wilcoxon_pvalue'])


def test_two_seeds_print_no_inference():
  # Two nearly equal differences gave a paired-t p of 3.6e-05 next to a
  # Wilcoxon p of 0.5; below each test's minimum no p-value is printed.
  runs = [_run('conventional', 0, 0.900, [1]), _run('conventional', 1, 0.950,
                                                     [1]),
          _run('lerac', 0, 0.91000, [1]), _run('lerac', 1, 0.96001, [1])]
  rows = stats.summarise(runs)
  assert math.isnan(rows[1]['final']['t_pvalue'])
  assert math.isnan(rows[1]['final']['wilcoxon_pvalue'])
  table = stats.format_table(rows)
  assert table.count('n/a (2 seeds < 3)') == 3  # t, Holm, BH
  assert 'n/a (2 seeds < 6)' in table
  assert 'e-05' not in table


@pytest.mark.parametrize('seeds,shown', [(2, ()), (3, ('t',)),
                                         (6, ('t', 'wilcoxon'))])
def test_each_test_runs_from_its_minimum(seeds, shown):
  rng = np.random.default_rng(0)
  a = rng.normal(0.9, 0.01, seeds)
  r = stats.paired_tests(a + 0.01 + rng.normal(0, 1e-3, seeds), a)
  for test, key in (('t', 't_pvalue'), ('wilcoxon', 'wilcoxon_pvalue')):
    assert math.isnan(r[key]) == (test not in shown)


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
