# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The training config is validated before any work (examples/config_check).

Validation only: nothing here trains, so the fuzz test stays fast.
"""

import importlib
import math
import os
import subprocess
import sys
import warnings

import hypothesis
from hypothesis import strategies as st
import jax
import ml_collections
import numpy as np
import pytest

from examples import config_check
from examples import input_pipeline
from examples import regimes as regimes_lib
from examples import train
from examples.configs import default

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(
    config_check.__file__)))
CONFIGS = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, 'examples',
                                                        'configs'))
                 if n.endswith('.py') and n != '__init__.py')


def config_with(**fields):
  """The default config with ``fields`` set ('lerac__k' is 'lerac.k')."""
  # Not type-safe: the checks, not ConfigDict, must refuse a wrong type.
  config = ml_collections.ConfigDict(default.get_config().to_dict(),
                                     type_safe=False)
  for name, value in fields.items():
    *parents, leaf = name.split('__')
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def problems(program='main', **fields):
  with pytest.raises(config_check.ConfigError) as e:
    config_check.validate(config_with(**fields), program)
  return e.value.problems


@pytest.mark.parametrize('name', CONFIGS)
@pytest.mark.parametrize('program', ['main', 'compare'])
def test_every_shipped_config_is_valid(name, program):
  config = importlib.import_module(f'examples.configs.{name}').get_config()
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    config_check.validate(config, program)


# (field, value, program, what the message says): the cases that hung, were
# silently wrong, or failed with a bare Python or numpy error.
CASES = [
    ('batch_size', -4, 'main', 'out of range; valid: an integer >= 1'),
    ('batch_size', 0, 'main', 'out of range; valid: an integer >= 1'),
    ('max_train_examples', -100000, 'main', 'valid: an integer >= 0'),
    ('max_train_examples', -5, 'main', 'valid: an integer >= 0'),
    ('num_epochs', -1, 'main', 'valid: an integer in [1, 100000]'),
    ('k_epochs', -1.0, 'main', 'valid: a finite number > 0'),
    ('k_epochs', math.nan, 'main', 'not a finite number'),
    ('k_epochs', math.inf, 'main', 'not a finite number'),
    ('k_epochs', 9.0, 'main', 'longer than the run (num_epochs=8)'),
    ('log_every', 0, 'main', 'valid: an integer >= 1'),
    ('eval_batch_size', 0, 'main', 'valid: an integer >= 1'),
    ('validation_fraction', 0.0, 'main', 'valid: a number in (0, 1)'),
    ('seed', -1, 'main', 'valid: an integer in [0, 4294967295]'),
    ('seed', 2**32, 'main', 'valid: an integer in [0, 4294967295]'),
    ('lerac__decay_factor', 0.5, 'main', "only initial_ratios='decay'"),
    ('lerac__staircase_factor', 5.0, 'main', 'only the staircase schedule'),
    ('regime', 'lerac+lerac_reverse', 'main', 'both forward and reversed'),
    ('regimes', ('conventional,lerac+lerac_reverse',), 'compare',
     'both forward and reversed'),
    ('regimes', ('lerac', 'cbs'), 'compare', "'conventional', which is "
     'missing'),
    ('regimes', ('conventional,lerac,lerac',), 'compare', 'listed twice'),
    ('seeds', (), 'compare', 'empty'),
    ('seeds', (0, 0), 'compare', 'listed twice'),
    ('step_decay_epochs', (2, 4), 'main', "only lr_schedule='step'"),
    ('num_train_steps', 0, 'main', '-1 (no limit) or an integer in [1, '),
    ('batch_size', 64.0, 'main', 'not an integer'),
    ('tensorboard', 1, 'main', 'not True or False'),
]


@pytest.mark.parametrize('field,value,program,what', CASES)
def test_bad_values_are_refused_naming_field_range_and_example(
    field, value, program, what):
  found = problems(program, **{field: value})
  dotted = field.replace('__', '.')
  assert len(found) == 1, found
  assert found[0].startswith(f'config.{dotted}={value!r}: ')
  assert what in found[0]
  assert f'(e.g. --config.{dotted}=' in found[0] and 'valid: ' in found[0]


def test_every_problem_is_listed_at_once():
  found = problems(batch_size=-4, k_epochs=math.nan, log_every=0, seed=-1)
  assert [p.split('=')[0] for p in found] == [
      'config.batch_size', 'config.k_epochs', 'config.log_every',
      'config.seed']


def test_each_program_checks_only_its_own_fields():
  config_check.validate(config_with(seeds=()), 'main')
  config_check.validate(config_with(regime='lerac+lerac_reverse'), 'compare')
  assert config_check.used_fields('main') >= {'regime', 'seed'}
  assert not config_check.used_fields('main') & {'regimes', 'seeds'}


def test_schedule_settings_are_fine_where_a_schedule_reads_them():
  config_check.validate(config_with(lerac__decay_factor=0.5,
                                    lerac__initial_ratios='decay'))
  config_check.validate(config_with(lerac__staircase_factor=5.0,
                                    regime='lerac/staircase'))
  config_check.validate(config_with(step_decay_epochs=(2, 4),
                                    lr_schedule='step'))
  # A regime without LeRaC reads no LeRaC setting at all.
  config_check.validate(config_with(lerac__decay_factor=0.5,
                                    regime='conventional'))


def test_a_step_decay_after_the_run_and_a_cut_curriculum_warn():
  with pytest.warns(config_check.ConfigWarning, match=r'\[9\] at or after'):
    config_check.validate(config_with(lr_schedule='step',
                                      step_decay_epochs=(2, 9)))
  with pytest.warns(config_check.ConfigWarning, match='never reach eta0'):
    config_check.check_run_length(config_with(num_train_steps=5), 20)


# ------------------------------------------------------------------ fuzz

ANY_VALUE = st.one_of(
    st.integers(-2**33, 2**33), st.floats(allow_nan=True,
                                          allow_infinity=True),
    st.booleans(), st.text(max_size=6), st.sampled_from(
        ['', 'lerac', 'conventional', 'cbs+lerac', 'lerac/staircase',
         'lerac+lerac_reverse', 'adam', 'step', 'decay', 'block']),
    st.lists(st.integers(-3, 12), max_size=4).map(tuple),
    st.lists(st.floats(-2, 12), max_size=3).map(tuple),
    st.lists(st.sampled_from(['conventional', 'lerac', 'warmup', 'cbs',
                              'lerac_reverse', 'lerac/log']),
             max_size=4).map(tuple))
FIELDS = sorted(config_check.used_fields('main')
                | config_check.used_fields('compare'))


def sound(config, program):
  """What a config that passes must give: a run that ends, finite rates."""
  for n in (1, 37, 10000):
    spe = input_pipeline.steps_per_epoch(
        n, config.batch_size)  # raises for a batch size < 1
    total = train.total_steps(config, spe)
    k = train.curriculum_steps(config, spe)
    assert 1 <= k <= config.num_epochs * spe and total >= 1
    names = ([config.regime] if program == 'main' else
             [r.name for r in regimes_lib.parse_regimes(config.regimes)])
    assert names and (program == 'main' or 'conventional' in names)
    for name in names:
      regime = regimes_lib.Regime.parse(name)
      lr = train.create_learning_rate_fn(config, regime, spe)
      rates = [float(lr(s)) for s in (0, k - 1, k, total - 1)]
      assert all(math.isfinite(r) and r >= 0 for r in rates)
  seeds = [config.seed] if program == 'main' else list(config.seeds)
  assert seeds and len(set(seeds)) == len(seeds)
  for s in seeds:
    np.random.default_rng(s)
    assert 0 <= s < 2**32  # jax.random.key keeps 32 bits


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.tuples(st.sampled_from(FIELDS), ANY_VALUE),
                           min_size=1, max_size=3),
                  st.sampled_from(['main', 'compare']))
def test_fuzz_validation_refuses_clearly_or_passes_soundly(changes,
                                                           program):
  config = config_with()
  for field, value in changes:
    *parents, leaf = field.split('.')
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', config_check.ConfigWarning)
      config_check.validate(config, program)
  except config_check.ConfigError as e:
    assert e.problems
    for p in e.problems:
      assert p.startswith('config.') and 'valid: ' in p and (
          '(e.g. --config.' in p), p
    return
  sound(config, program)


def test_jax_keys_wrap_at_32_bits():
  # Why seeds stop at 2**32 - 1: a larger one would repeat a smaller one.
  assert np.array_equal(jax.random.key_data(jax.random.key(2**32 + 5)),
                        jax.random.key_data(jax.random.key(5)))


# ------------------------------------------------------- the two programs


def run_module(*args):
  return subprocess.run([sys.executable, '-m', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120,
                        check=False)


def test_main_refuses_bad_input_before_any_work(tmp_path):
  # batch_size=-4 and max_train_examples=-100000 used to loop forever.
  workdir = tmp_path / 'run'
  proc = run_module('examples.main', f'--workdir={workdir}',
                    '--config.batch_size=-4',
                    '--config.max_train_examples=-100000',
                    '--config.k_epochs=nan', '--config.log_every=0')
  assert proc.returncode == 2, proc.stderr[-2000:]
  for line in ('config.batch_size=-4: out of range; valid: an integer >= 1 '
               '(e.g. --config.batch_size=64)',
               'config.max_train_examples=-100000:', 'config.k_epochs=nan:',
               'config.log_every=0:'):
    assert line in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not workdir.exists()


def test_compare_refuses_no_seeds_and_no_baseline(tmp_path):
  out = tmp_path / 'cmp'
  proc = run_module('examples.compare', f'--out={out}', '--config.seeds=()',
                    '--config.regimes=lerac,cbs')
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'config.seeds=(): empty' in proc.stderr
  assert "'conventional', which is missing" in proc.stderr
  assert 'Traceback' not in proc.stderr and not out.exists()


def test_a_run_past_the_int32_step_count_is_refused():
  # Found by the fuzz test: 13765921 epochs overflowed optax's int32 count
  # inside the learning-rate schedule instead of failing with a message.
  config = config_with()
  config.num_epochs = 13765921
  with pytest.raises(config_check.ConfigError, match='num_epochs'):
    config_check.validate(config, 'compare')
  config.num_epochs = config_check.MAX_EPOCHS
  config.batch_size = 1
  with pytest.raises(config_check.ConfigError, match='int32 step count'):
    config_check.check_run_length(config, steps_per_epoch=60000)
