# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests of config.log_depth_stats in examples/train.py."""

import jax
import ml_collections
import numpy as np
import pytest

import lerac_jax
from examples import train
from examples.configs import default


def small_config(**overrides):
  c = default.get_config()
  c.max_train_examples = 128  # 2 steps per epoch at batch 64
  c.num_epochs, c.k_epochs = 2, 1.0
  c.tensorboard = False
  c.layer_decay = ml_collections.ConfigDict({'decay': 0.5})
  c.unfreeze = ml_collections.ConfigDict({'steps_per_depth': 1})
  c.update(overrides)
  return c


@pytest.fixture(scope='module')
def dataset():
  return train.load_dataset(small_config())


def first_steps(config, regime, dataset, steps=2):
  """The states before each step and the metrics of each step."""
  setup = train.create_setup(config, regime, dataset)
  state = train.create_train_state(setup, 0)
  x, y = dataset.train[0][:64], dataset.train[1][:64]
  states, metrics = [state], []
  for _ in range(steps):
    state, m = setup.train_step(state, x, y, np.float32(0))
    states.append(state)
    metrics.append(jax.device_get(m))
  return setup, states, metrics


def hand_norms(setup, tree):
  """Per depth, the 2-norm of the leaves of ``tree``, summed by hand."""
  squares = np.zeros(setup.depths.num_depths)
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    d = setup.depths.depth_of(lerac_jax.depths.path_to_str(path))
    squares[d] += np.sum(np.square(np.asarray(leaf, np.float64)))
  return np.sqrt(squares)


def test_flag_off_leaves_the_step_as_it_was(dataset):
  _, off_states, off = first_steps(small_config(), 'lerac', dataset)
  _, on_states, on = first_steps(small_config(log_depth_stats=True), 'lerac',
                                 dataset)
  assert all('depth_stats' not in m for m in off)
  assert all('depth_stats' in m for m in on)
  for a, b in zip(off, on):
    for key in a:
      np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=0)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               off_states[-1].params, on_states[-1].params)


def test_update_norms_are_those_of_the_applied_updates(dataset):
  # Conventional: every multiplier is 1, so the update of every depth is
  # large enough to read back as new params - old params in float32.
  setup, states, metrics = first_steps(
      small_config(log_depth_stats=True), 'conventional', dataset)
  for before, after, m in zip(states, states[1:], metrics):
    stats = m['depth_stats']
    deltas = jax.tree.map(lambda a, b: np.asarray(b, np.float64) - a,
                          before.params, after.params)
    np.testing.assert_allclose(stats.update_norm, hand_norms(setup, deltas),
                               rtol=1e-3)
    np.testing.assert_allclose(stats.param_norm,
                               hand_norms(setup, before.params), rtol=1e-5)
    np.testing.assert_allclose(stats.update_ratio,
                               stats.update_norm / stats.param_norm,
                               rtol=1e-6)
    assert all(np.isfinite(a).all() and (a > 0).all() for a in stats)


def test_lerac_rate_is_lr_times_the_curriculum_at_step_0(dataset):
  config = small_config(log_depth_stats=True)
  setup, _, metrics = first_steps(config, 'lerac', dataset, steps=1)
  n = setup.depths.num_depths
  curve = lerac_jax.Curriculum(**train.lerac_kwargs(
      config, setup.regime, setup.steps_per_epoch)).curve(n)
  expected = config.learning_rate * np.asarray(curve(0))
  assert expected.min() < 1e-3 * expected.max()  # a real curriculum
  np.testing.assert_allclose(metrics[0]['depth_stats'].learning_rate,
                             expected, rtol=1e-5)


def test_reversed_control_is_logged_in_forward_order(dataset):
  setup, _, metrics = first_steps(small_config(log_depth_stats=True),
                                  'lerac_reverse', dataset, steps=1)
  stats, depths = train.forward_depth_stats(setup, metrics[0]['depth_stats'])
  # The forward-order rates the program already logs: lr * scales.
  np.testing.assert_allclose(stats.learning_rate,
                             metrics[0]['lr'] * metrics[0]['scales'],
                             rtol=1e-6)
  # The reversed curriculum gives the head (last in forward order) rate 1.
  assert stats.learning_rate[-1] == stats.learning_rate.max()
  assert stats.learning_rate[0] == stats.learning_rate.min()
  table = lerac_jax.format_depth_stats(stats, depths).splitlines()
  assert 'head' in table[-1] and 'head' not in table[1]


def test_layer_decay_rate_is_the_trained_one(dataset):
  setup, states, metrics = first_steps(small_config(log_depth_stats=True),
                                       'layer_decay', dataset, steps=1)
  n = setup.depths.num_depths
  lr = metrics[0]['lr']
  expected = lr * 0.5 ** (n - 1 - np.arange(n))
  np.testing.assert_allclose(metrics[0]['depth_stats'].learning_rate,
                             expected, rtol=1e-6)
  # The program's per-depth log (lr/depth_*, steps.jsonl) shows them too.
  np.testing.assert_allclose(metrics[0]['scales'],
                             0.5 ** (n - 1 - np.arange(n)), rtol=1e-6)
  products = np.prod(list(lerac_jax.all_current_scales(
      states[0].opt_state).values()), axis=0)
  np.testing.assert_allclose(metrics[0]['depth_stats'].learning_rate,
                             lr * products, rtol=1e-6)


def test_unfreeze_rate_is_the_trained_one(dataset):
  setup, states, metrics = first_steps(small_config(log_depth_stats=True),
                                       'unfreeze', dataset, steps=2)
  n = setup.depths.num_depths
  for t, m in enumerate(metrics):
    released = (np.arange(n) >= n - 1 - t).astype(np.float32)
    stats = m['depth_stats']
    np.testing.assert_allclose(stats.learning_rate, m['lr'] * released,
                               rtol=1e-6)
    # A frozen depth does not move at all; a released one does.
    assert (stats.update_norm[released == 0] == 0).all()
    assert (stats.update_norm[released == 1] > 0).all()
    # Both unfreezings are 0/1 with one count: their product is the same.
    products = np.prod(list(lerac_jax.all_current_scales(
        states[t].opt_state).values()), axis=0)
    np.testing.assert_allclose(stats.learning_rate, m['lr'] * products,
                               rtol=1e-6)


class RecordingWriter:
  scalars: dict = {}

  def __init__(self, logdir):
    del logdir

  def add_scalar(self, name, value, step):
    RecordingWriter.scalars.setdefault(name, []).append((step, value))

  def close(self):
    pass


def test_train_and_evaluate_logs_each_epoch(dataset, tmp_path, capsys,
                                            monkeypatch):
  tensorboardx = pytest.importorskip('tensorboardX')
  monkeypatch.setattr(tensorboardx, 'SummaryWriter', RecordingWriter)
  RecordingWriter.scalars = {}
  config = small_config(log_depth_stats=True, tensorboard=True)
  setup = train.create_setup(config, 'lerac', dataset)
  train.train_and_evaluate(config, str(tmp_path), setup, progress=False)
  out = capsys.readouterr().out
  n = setup.depths.num_depths
  lines = out.splitlines()
  starts = [i for i, line in enumerate(lines) if line.endswith('per depth:')]
  assert [lines[i] for i in starts] == [
      "epoch 1, step 1 (the epoch's last), per depth:",
      "epoch 2, step 3 (the epoch's last), per depth:"]
  for i in starts:
    assert lines[i + 1].split() == ['depth', 'update_norm', 'param_norm',
                                    'ratio', 'learning_rate', 'modules']
    rows = [line.split() for line in lines[i + 2:i + 2 + n]]
    assert [int(r[0]) for r in rows] == list(range(n))
    assert all(np.isfinite(float(v)) for r in rows for v in r[1:5])
    assert rows[-1][5] == 'head'
  for d in range(n):
    for name in lerac_jax.DepthStats._fields:
      logged = RecordingWriter.scalars[f'depth/{d:02d}/{name}']
      assert [s for s, _ in logged] == [1, 3]
      assert all(np.isfinite(v) for _, v in logged)


def test_logging_fields_do_not_change_the_pretrained_model():
  from examples.configs import finetune_fashion_mnist  # pylint: disable=g-import-not-at-top
  c = finetune_fashion_mnist.get_config()
  folder = train.pretrained_folder(c)
  c.log_depth_stats = True
  assert train.pretrained_folder(c) == folder
  assert 'log_depth_stats' not in train.pretrain_settings(c)


def test_train_seeds_refuses_the_flag(dataset):
  setup = train.create_setup(small_config(log_depth_stats=True),
                             'conventional', dataset)
  with pytest.raises(ValueError, match='log_depth_stats'):
    next(train.train_seeds(setup, [0]))


@pytest.mark.parametrize('regime', ['lerac+layer_decay', 'lerac+unfreeze'])
def test_logged_scales_are_the_whole_chains(regime, dataset):
  # The logged per-depth rates (lr/depth_* and steps.jsonl's scales) are the
  # trained ones: LeRaC's multipliers times those after the optimizer. They
  # used to show LeRaC's alone, and a LeRaC + layer-wise chain crashed.
  setup, states, metrics = first_steps(small_config(), regime, dataset,
                                       steps=1)
  # Unfreezing's multipliers are 0 or 1, so the gradient-side copy before
  # the optimizer does not change the product.
  product = np.prod(list(lerac_jax.all_current_scales(
      states[0].opt_state).values()), axis=0)
  assert np.ptp(product) > 0  # not all ones: the test can tell
  np.testing.assert_allclose(metrics[0]['scales'], product, rtol=1e-6)
