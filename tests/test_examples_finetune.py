# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The training program's fine-tuning config and layer-wise regime hooks.

Runs on the embedded digits (the fine-tuning functions take any
classification dataset), so no download and a few seconds per test.
"""

import json
import os

import jax
import numpy as np
import pytest

import lerac_jax
from examples import models
from examples import train
from examples.configs import default
from examples.configs import finetune_fashion_mnist


def tiny_config(tmp_path, **finetune):
  """The fine-tuning config on digits: 3 + 3 classes, a 4-depth MLP."""
  c = finetune_fashion_mnist.get_config()
  c.dataset = 'digits'
  c.model_kwargs.num_depths = 4
  c.model_kwargs.width = 16
  c.num_epochs = 2
  c.batch_size = 8
  c.k_epochs = 0.5
  c.finetune.classes = (1, 3, 5)
  c.finetune.labels_per_class = 8
  c.finetune.checkpoint_dir = str(tmp_path / 'ckpt')
  c.finetune.pretrain.classes = (0, 2, 4)
  c.finetune.pretrain.examples_per_class = 40
  c.finetune.pretrain.num_epochs = 1
  c.finetune.update(finetune)
  return c


@pytest.mark.parametrize('num_depths', [2, 4, 16])
def test_residual_mlp_has_the_asked_number_of_depths(num_depths):
  model = models.create_model('residual_mlp', 5, num_depths=num_depths,
                              width=8)
  x = jax.ShapeDtypeStruct((1, 8, 8, 1), np.float32)
  for group in ('layer', 'block'):
    depths = lerac_jax.depths_from_model(model, x, group=group)
    assert depths.num_depths == num_depths
    assert depths.table['head/kernel'] == num_depths - 1
    assert depths.table['stem/kernel'] == 0


def test_class_subset_relabels_and_keeps_per_class_counts():
  base = train.load_dataset(default.get_config())  # all 10 digits
  ds = train.class_subset(base, (7, 2), per_class=5)
  assert ds.num_classes == 2 and len(ds.train[0]) == 10
  assert np.bincount(ds.train[1]).tolist() == [5, 5]
  # Label 0 is the old 7, label 1 the old 2, in every split.
  for (x, y), (bx, by) in ((ds.test, base.test),
                           (ds.validation, base.validation)):
    assert len(y) == np.sum((by == 7) | (by == 2))
    first7 = bx[np.flatnonzero(by == 7)[0]]
    assert np.array_equal(x[np.flatnonzero(y == 0)[0]], first7)
  with pytest.raises(ValueError, match='fewer than'):
    train.class_subset(base, (1,), per_class=10**6)
  with pytest.raises(ValueError, match='distinct ids'):
    train.class_subset(base, (1, 1))


def test_pretraining_is_saved_once_and_shared(tmp_path, monkeypatch):
  c = tiny_config(tmp_path)
  first = train.pretrained_variables(c)
  folders = os.listdir(c.finetune.checkpoint_dir)
  assert len(folders) == 1
  info = json.load(open(os.path.join(c.finetune.checkpoint_dir, folders[0],
                                     'pretrain.json')))
  assert info['settings']['classes'] == [0, 2, 4]
  assert 0 < info['record']['val_accuracy'] <= 1

  def no_training(_):
    raise AssertionError('trained again instead of restoring')

  monkeypatch.setattr(train, 'pretrain', no_training)
  # Another fine-tune arm, optimizer and data path: the same pre-training.
  c.regime, c.optimizer, c.learning_rate = 'warmup', 'adam', 1e-3
  c.data_dir = str(tmp_path / 'elsewhere')
  again = train.pretrained_variables(c)
  jax.tree.map(np.testing.assert_array_equal, first, again)
  # A pre-training setting is another model, in another folder.
  c.finetune.pretrain.num_epochs = 2
  with pytest.raises(AssertionError, match='trained again'):
    train.pretrained_variables(c)


def test_finetuning_starts_from_the_pretrained_body_with_a_new_head(
    tmp_path):
  c = tiny_config(tmp_path)
  setup = train.create_setup(c, 'conventional')
  assert setup.dataset.num_classes == 3 and len(setup.dataset.train[0]) == 24
  pre = setup.pretrained['params']
  states = [train.create_train_state(setup, seed) for seed in (0, 1)]
  for state in states:
    for name in ('stem', 'block0', 'block1'):
      jax.tree.map(np.testing.assert_array_equal, state.params[name],
                   pre[name])
  heads = [s.params['head']['kernel'] for s in states]
  assert not np.allclose(heads[0], heads[1])  # the seed draws the head
  assert not np.allclose(heads[0], pre['head']['kernel'])
  # Every loader of the program gives the fine-tuning task (as compare does).
  loaded = train.load_dataset(c)
  assert loaded.num_classes == 3
  np.testing.assert_array_equal(loaded.train[1], setup.dataset.train[1])
  result = train.train_and_evaluate(c, setup=setup, seed=0, progress=False)
  assert result['epochs'] == 2 and 0 <= result['best']['test'] <= 1
  c.finetune.init = 'scratch'
  assert train.create_setup(c, 'conventional').pretrained is None
  c.finetune.init = 'pre-trained'
  with pytest.raises(ValueError, match='finetune.init'):
    train.create_setup(c, 'conventional')


def test_transplant_refuses_a_checkpoint_of_another_model(tmp_path):
  c = tiny_config(tmp_path)
  setup = train.create_setup(c, 'conventional')
  c.model_kwargs.width = 24
  c.finetune.init = 'scratch'
  wider = train.create_setup(c, 'conventional', setup.dataset)
  wider.pretrained = setup.pretrained  # the 16-wide model's weights
  with pytest.raises(ValueError, match='another model'):
    train.create_train_state(wider, 0)


@pytest.mark.parametrize('regime,engine', [
    ('layer_decay', 'scale_by_layer_decay'),
    ('unfreeze', 'scale_by_unfreezing')])
def test_layerwise_regimes_need_the_library_engine(tmp_path, monkeypatch,
                                                   regime, engine):
  c = tiny_config(tmp_path, init='scratch')
  monkeypatch.delattr(lerac_jax, engine, raising=False)
  with pytest.raises(NotImplementedError, match=f'lerac_jax.{engine}'):
    train.create_setup(c, regime)
  calls = []

  def fake_engine(depths, value):
    calls.append((depths.num_depths, value))
    # An engine (the program reads every engine's multipliers for its logs).
    return lerac_jax.scale_by_depth(depths, [0.5] * depths.num_depths)

  monkeypatch.setattr(lerac_jax, engine, fake_engine, raising=False)
  setup = train.create_setup(c, regime)
  spe = setup.steps_per_epoch
  k = train.curriculum_steps(c, spe)
  expected = 0.8 if regime == 'layer_decay' else max(1, k // 3)
  # Unfreezing also zeroes the frozen gradients before the optimizer.
  assert calls == [(4, expected)] * (1 if regime == 'layer_decay' else 2)
  state = train.create_train_state(setup, 0)
  x, y = setup.dataset.train[0][:8], setup.dataset.train[1][:8]
  new, _ = setup.train_step(state, x, y, np.float32(0))
  assert np.all(np.isfinite(new.params['head']['kernel']))
  with pytest.raises(ValueError, match='lerac_reverse'):
    train.create_setup(c, f'lerac_reverse+{regime}')


def test_head_ratio_gives_the_head_the_official_ratio(tmp_path):
  c = tiny_config(tmp_path, init='scratch')
  c.model_kwargs.num_depths = 8
  c.lerac.update(schedule='staircase', initial_ratios='decay',
                 decay_factor=0.1, min_scale=1e-5, head_ratio=1e-3)
  setup = train.create_setup(c, 'lerac/staircase')
  state = train.create_train_state(setup, 0)
  scales = np.asarray(setup.scales_fn(state.opt_state))  # input first
  by_name = {p.split('/')[0]: float(scales[d])
             for p, d in setup.depths.table.items()}
  np.testing.assert_allclose(
      [by_name[n] for n in ('stem', 'block0', 'block1', 'block2', 'block3',
                            'block4', 'block5', 'head')],
      [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-5, 1e-3], rtol=1e-5)
  c.lerac.head_ratio = 2.0
  with pytest.raises(ValueError, match='head_ratio must be in'):
    train.create_setup(c, 'lerac/staircase')
