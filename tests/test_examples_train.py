# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests of examples/train.py, the configs and the compare program."""

import importlib
import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from examples import compare
from examples import regimes
from examples import train
from examples.configs import default

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(compare.__file__)))
CONFIG_DIR = os.path.join(ROOT, 'examples', 'configs')


def load_config(name):
  return importlib.import_module(f'examples.configs.{name}').get_config()


def run_module(*args, timeout=300):
  return subprocess.run([sys.executable, '-m', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout,
                        check=False)


def test_regime_parsing():
  r = train.Regime.parse('cbs+lerac')
  assert r.cbs and r.lerac and not r.reverse and not r.warmup
  assert train.Regime.parse('lerac_reverse').reverse
  assert train.Regime.parse('lerac/linear').schedule == 'linear'
  for bad in ('adam', 'lerac/quadratic', 'warmup/linear',
              'conventional+lerac'):
    with pytest.raises(ValueError):
      train.Regime.parse(bad)
  # What --config.regimes=conventional,lerac/log puts in the config.
  assert [r.name for r in regimes.parse_regimes(
      ('conventional,lerac/log',))] == ['conventional', 'lerac/log']
  assert regimes.parse_regimes(default.get_config().regimes) == [
      train.Regime.parse(r) for r in regimes.REGIMES]


@pytest.mark.parametrize('module,own,ignored', [
    ('examples.main', ('--config.regime=', '--config.seed='),
     ('--config.regimes=', '--config.seeds=')),
    ('examples.compare', ('--config.regimes=', '--config.seeds='),
     ('--config.regime=', '--config.seed=')),
])
def test_help_exits_0_and_lists_the_config_fields(module, own, ignored):
  proc = run_module(module, '--help', timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for field in ('--config.lerac.min_scale=1e-06',
                '--config.max_train_examples=0', '--config=') + own:
    assert field in proc.stdout, field
  for field in ignored:  # the other program's fields
    assert field not in proc.stdout, field
  proc = run_module(module, '--config=examples/configs/char_lm.py', '--help',
                    timeout=120)
  assert "--config.dataset='pydoc_text'" in proc.stdout


def test_max_train_examples_is_honoured_for_digits():
  c = default.get_config()
  full = train.load_dataset(c)
  c.max_train_examples = 100
  small = train.load_dataset(c)
  assert len(small.train[0]) == 100 < len(full.train[0])
  # The validation and test splits do not move.
  np.testing.assert_array_equal(small.test[0], full.test[0])
  np.testing.assert_array_equal(small.validation[0], full.validation[0])


@pytest.mark.parametrize('option,value', [('image_size', 32),
                                          ('max_test_examples', 10),
                                          ('tfds_reader', 'load')])
def test_tfds_only_options_are_refused_for_local_data(option, value):
  c = default.get_config()
  c[option] = value
  with pytest.raises(ValueError, match=f'{option}.*only TFDS'):
    train.load_dataset(c)


def test_learning_rate_schedules():
  c = default.get_config()
  c.num_epochs, c.k_epochs, c.learning_rate = 10, 2.0, 0.1
  spe = 10  # k = 20 steps, 100 steps in all
  conv = train.create_learning_rate_fn(c, train.Regime.parse('lerac'), spe)
  warm = train.create_learning_rate_fn(c, train.Regime.parse('warmup'), spe)
  # Cosine: constant during the curriculum, then decays to 0 at the end.
  assert float(conv(0)) == pytest.approx(0.1)
  assert float(conv(20)) == pytest.approx(0.1)
  assert float(conv(60)) == pytest.approx(0.05, rel=1e-5)
  assert float(conv(100)) == pytest.approx(0.0, abs=1e-7)
  # Warm-up: linear from eta0 * warmup_init to eta0 over the same k.
  assert float(warm(0)) == pytest.approx(0.1 * c.warmup_init, rel=1e-4)
  assert float(warm(10)) == pytest.approx(0.1 * (1 + c.warmup_init) / 2,
                                         rel=1e-5)
  assert float(warm(20)) == pytest.approx(0.1)
  assert float(warm(60)) == pytest.approx(float(conv(60)))
  c.lr_schedule, c.step_decay_epochs = 'step', (3, 6)
  step = train.create_learning_rate_fn(c, train.Regime.parse('lerac'), spe)
  assert [round(float(step(s)), 6) for s in (29, 30, 60)] == [0.1, 0.01,
                                                               0.001]


@pytest.mark.parametrize('name', ['sgd', 'adam', 'adamw', 'adamax'])
def test_optimizers_build(name):
  c = default.get_config()
  c.optimizer = name
  tx = train.create_optimizer(c, 0.1)
  params = {'w': np.ones(3, np.float32)}
  updates, _ = tx.update(params, tx.init(params), params)
  assert np.all(np.asarray(updates['w']) < 0)


def test_compare_two_epoch_smoke(tmp_path):
  out = str(tmp_path / 'cmp')
  c = default.get_config()
  c.num_epochs, c.seeds, c.k_epochs = 2, (0, 1), 1.0
  c.regimes = ('conventional,lerac_reverse', 'cbs+lerac')
  results = compare.run(c, out, progress=False)
  for f in ('results.json', 'results.md', 'lr_curves.png',
            'learning_curves.png', 'config.json', 'depths.txt'):
    assert os.path.getsize(os.path.join(out, f)) > 0, f
  with open(os.path.join(out, 'results.json')) as f:
    saved = json.load(f)
  assert saved['table'] == results['table']
  assert [r['regime'] for r in saved['table']] == [
      'conventional', 'lerac_reverse', 'cbs+lerac']
  assert len(saved['runs']) == 6
  for row in saved['table']:
    assert 0.1 < row['final']['mean'] <= 1.0
    assert len(row['final']['per_seed']) == 2
    if row['regime'] != 'conventional':
      assert set(row['mcnemar']['per_seed']) == {'0', '1'}
      assert 0 <= row['mcnemar']['median_pvalue'] <= 1
  with open(os.path.join(out, 'results.md')) as f:
    text = f.read()
  assert '| cbs+lerac |' in text
  assert 'test accuracy % (higher is better), final epoch' in text
  run_dir = os.path.join(out, 'runs')
  assert any(n.startswith('events.out.tfevents')
             for n in os.listdir(os.path.join(run_dir, 'conventional',
                                              'seed_0')))
  min_scale = default.get_config().lerac.min_scale

  def first_and_last(regime):
    with open(os.path.join(run_dir, regime, 'seed_0', 'steps.jsonl')) as f:
      rows = [json.loads(line) for line in f]
    return rows[0], rows[-1], len(rows)

  first, last, n = first_and_last('cbs+lerac')
  assert n == 2 * saved['steps_per_epoch']
  # Logged in forward depth order: input at eta0, head at min_scale; all
  # at 1 once the curriculum (1 epoch) is over.
  assert first['scales'][0] == 1.0
  assert first['scales'][-1] == pytest.approx(min_scale, rel=1e-4)
  assert all(s == 1.0 for s in last['scales'])
  first, _, _ = first_and_last('lerac_reverse')
  assert first['scales'][0] == pytest.approx(min_scale, rel=1e-4)
  assert first['scales'][-1] == 1.0
  first, _, _ = first_and_last('conventional')
  assert all(s == 1.0 for s in first['scales'])
  with open(os.path.join(run_dir, 'cbs+lerac', 'seed_0', 'eval.jsonl')) as f:
    evals = [json.loads(line) for line in f]
  assert [e['epoch'] for e in evals] == [0, 1, 2]
  assert evals[0]['cbs_sigma'] == 1.0


def test_char_lm_reports_bits_per_character():
  c = load_config('char_lm')
  c.model_kwargs.dim, c.model_kwargs.depth = 16, 1
  c.max_train_examples, c.num_epochs = 64, 1
  c.regime, c.tensorboard = 'cbs+lerac', False
  result = train.train_and_evaluate(c, progress=False)
  assert result['metric'] == 'bpc' and not result['higher_is_better']
  # Untrained-ish model: near log2(vocab) bits, certainly finite.
  assert 1.0 < result['final']['test'] < math.log2(103) + 1
  assert result['final']['test_correct'].ndim == 1


@pytest.mark.parametrize('name', sorted(
    f[:-3] for f in os.listdir(CONFIG_DIR)
    if f.endswith('.py') and not f.startswith('_')))
def test_every_config_loads(name):
  c = load_config(name)
  assert c.model and c.dataset and c.regimes
  for r in c.regimes:
    train.Regime.parse(r)


def test_paper_configs_follow_table_1():
  c10 = load_config('cifar10_resnet18')
  c100 = load_config('cifar100_resnet18')
  for c in (c10, c100):
    assert (c.model, c.optimizer, c.batch_size, c.num_epochs) == (
        'resnet18', 'sgd', 64, 200)
    assert c.learning_rate == 0.1 and c.momentum == 0.9
    assert c.lerac.schedule == 'exponential'
    assert c.learning_rate * c.lerac.min_scale == pytest.approx(1e-8)
    assert (c.cbs.sigma, c.cbs.decay) == (1.0, 0.9)
    assert 2 <= c.cbs.every_epochs <= 5
  assert (c10.dataset, c10.k_epochs) == ('cifar10', 5.0)
  assert (c100.dataset, c100.k_epochs) == ('cifar100', 6.0)


def _mock_paper_setup(name, tfds):
  c = load_config(name)
  c.tfds_reader = 'data_source'  # mock data is not "prepared" on disk
  with tfds.testing.mock_data(num_examples=24):
    dataset = train.load_dataset(c)
  return c, dataset


@pytest.mark.parametrize('name', ['cifar10_resnet18', 'cifar100_resnet18'])
def test_paper_configs_build_on_mock_data(name):
  tfds = pytest.importorskip('tensorflow_datasets')
  c, dataset = _mock_paper_setup(name, tfds)
  assert dataset.input_shape == (32, 32, 3)
  assert dataset.num_classes == (10 if name == 'cifar10_resnet18' else 100)
  setup = train.create_setup(c, 'cbs+lerac', dataset)
  assert setup.depths.num_depths == 10  # stem, 8 blocks, head
  assert setup.total_steps == 200  # 1 step per epoch on 21 mock examples


@pytest.mark.slow
@pytest.mark.parametrize('name', ['cifar10_resnet18'])
def test_paper_config_one_step_on_mock_data(name):
  tfds = pytest.importorskip('tensorflow_datasets')
  c, dataset = _mock_paper_setup(name, tfds)
  c.num_train_steps, c.eval_batch_size, c.tensorboard = 1, 8, False
  result = train.train_and_evaluate(
      c, setup=train.create_setup(c, 'cbs+lerac', dataset), progress=False)
  assert result['steps'] == 1 and result['num_depths'] == 10
  assert np.isfinite(result['final']['val'])
  assert jax.device_count() >= 1


@pytest.mark.slow
def test_main_trains_one_config(tmp_path):
  workdir = str(tmp_path / 'one')
  proc = run_module(
      'examples.main', f'--workdir={workdir}',
      '--config.num_epochs=1', '--config.k_epochs=1',
      '--config.num_train_steps=3', '--config.regime=warmup',
      '--config.tensorboard=False')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert 'warmup seed 0: test accuracy' in proc.stdout
  # 3 steps end the run inside the 1-epoch warm-up: said, not refused.
  assert ('warning: config.num_train_steps=3 stops the run before the '
          'curriculum ends') in proc.stderr
  assert "backend 'tpu'" not in proc.stderr
  with open(os.path.join(workdir, 'result.json')) as f:
    result = json.load(f)
  assert result['regime'] == 'warmup' and result['steps'] == 3
  assert os.path.getsize(os.path.join(workdir, 'steps.jsonl')) > 0


@pytest.mark.slow
def test_compare_command_line_overrides_and_plain_progress(tmp_path):
  out = str(tmp_path / 'cli')
  proc = run_module(
      'examples.compare', f'--out={out}', '--config.num_epochs=1',
      '--config.k_epochs=0.5',
      '--config.num_train_steps=2', '--config.seeds=0,3',
      '--config.regimes=conventional,lerac/linear',
      '--config.lerac.min_scale=1e-3', '--config.max_train_examples=200',
      '--config.tensorboard=False')
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(os.path.join(out, 'results.json')) as f:
    saved = json.load(f)
  assert saved['config']['seeds'] == [0, 3]
  assert saved['config']['lerac']['min_scale'] == 1e-3
  assert [r['regime'] for r in saved['table']] == ['conventional',
                                                   'lerac/linear']
  assert saved['dataset'].startswith('digits: train/val/test = 200/')
  # Piped: one plain line per run, no progress bars.
  assert '[4/4] lerac/linear seed 3: test accuracy' in proc.stderr
  assert '\r' not in proc.stderr and 'it/s' not in proc.stderr
  assert "backend 'tpu'" not in proc.stderr


def test_lerac_snr_regime_starts_at_the_measured_ratios():
  import lerac_jax  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.max_train_examples = 512
  dataset = train.load_dataset(config)
  setup = train.create_setup(config, 'lerac/snr', dataset)
  state = train.create_train_state(setup, seed=0)
  scales = np.asarray(lerac_jax.current_scales(state.opt_state))
  ratios = train.snr_initial_ratios(config, setup.model, dataset,
                                    setup.depths)
  np.testing.assert_allclose(scales, ratios, rtol=1e-6)
  assert scales[0] == 1.0 and np.all(np.diff(scales) <= 0)
  assert scales[-1] >= config.lerac.min_scale
  # Calibrated, not the default geometric ratios down to min_scale.
  assert scales[-1] > 1e-3
  x, y = dataset.train[0][:64], dataset.train[1][:64]
  state, metrics = setup.train_step(state, x, y, np.float32(0.0))
  assert np.isfinite(float(metrics['loss']))
  np.testing.assert_allclose(metrics['scales'], ratios, rtol=1e-6)


def test_snr_suffix_needs_forward_lerac():
  assert train.Regime.parse('cbs+lerac/snr').snr
  for bad in ('lerac_reverse/snr', 'warmup/snr'):
    with pytest.raises(ValueError):
      train.Regime.parse(bad)


def _random_dataset(n, seed=0):
  rng = np.random.default_rng(seed)

  def split(m):
    return (rng.uniform(-1, 1, (m, 32, 32, 1)).astype(np.float32),
            rng.integers(0, 10, m).astype(np.int32))

  from examples import input_pipeline  # pylint: disable=g-import-not-at-top
  return input_pipeline.Dataset(name='random', task='classification',
                                train=split(n), validation=split(8),
                                test=split(8), num_classes=10)


def _tiny_resnet_config():
  c = load_config('cifar10_resnet18')
  c.model_kwargs = {'width': 4, 'stage_sizes': (1, 1, 1, 1)}
  c.batch_size, c.eval_batch_size, c.num_epochs = 8, 8, 1
  c.lr_schedule, c.tensorboard = 'constant', False
  return c


def test_head_ratio_starts_the_head_apart_on_the_same_staircase():
  c = _tiny_resnet_config()
  c.k_epochs = 1.0  # 8 steps; the deepest block needs 4 x10 events
  c.lerac.update(dict(schedule='staircase', initial_ratios='decay',
                      decay_factor=0.1, min_scale=1e-5, group='block',
                      staircase_factor=10.0, head_ratio=1e-3))
  setup = train.create_setup(c, 'lerac/staircase', _random_dataset(64))
  state = train.create_train_state(setup, 0)
  # stem, 4 blocks from 1e-1 down x0.1, then the head at its own 1e-3.
  np.testing.assert_allclose(setup.scales_fn(state.opt_state),
                             [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-3], rtol=1e-5)
  x, y = setup.dataset.train[0][:8], setup.dataset.train[1][:8]
  scales = []
  for _ in range(9):
    state, metrics = setup.train_step(state, x, y, np.float32(0))
    scales.append(np.asarray(metrics['scales']))
  # One event every 2 steps: the head reaches 1 after 3, the body after 4.
  np.testing.assert_allclose(scales[2], [1, 1, 1e-1, 1e-2, 1e-3, 1e-2],
                             rtol=1e-5)
  np.testing.assert_allclose(scales[6][-1], 1.0)
  assert scales[6][-2] < 1.0 and (scales[8] == 1.0).all()
  with pytest.raises(ValueError, match='head_ratio'):
    train.create_setup(c, 'lerac_reverse', setup.dataset)


@pytest.mark.parametrize('seed_mode', train.SEED_MODES)
def test_train_seeds_matches_one_seed_at_a_time(seed_mode):
  c = _tiny_resnet_config()
  c.regime, c.k_epochs = 'lerac', 0.5
  setup = train.create_setup(c, 'lerac', _random_dataset(32))
  seeds = [3, 5]
  record = next(train.train_seeds(setup, seeds, seed_mode))
  order = train.seed_batch_order(seeds, 0, 32, c.batch_size)
  x, y = setup.dataset.train
  for i, seed in enumerate(seeds):  # the same steps, one seed alone
    state = train.create_train_state(setup, seed)
    losses = []
    for idx in order[:, i]:
      state, metrics = setup.train_step(state, x[idx], y[idx], np.float32(0))
      losses.append(float(metrics['loss']))
    assert record['train_loss'][i] == pytest.approx(np.mean(losses),
                                                    rel=1e-4)
  assert record['epoch'] == 1 and record['compile_s'] > 0
  assert 0 < record['smallest_multiplier_first_step'] < 1e-3
