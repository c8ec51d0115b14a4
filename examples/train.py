# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Training and evaluation of one config under one regime and seed.

The regimes (``config.regime``) are listed in :mod:`examples.regimes`. All
regimes share one base schedule as a function of the step (constant, cosine
decay from step k on, or step decay), so the only difference between them is
the curriculum.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import traverse_util
from flax.training import train_state
import tqdm

import lerac_jax
from examples import cbs
from examples import input_pipeline
from examples import models
from examples.regimes import REGIMES  # pylint: disable=unused-import
from examples.regimes import Regime


class TrainState(train_state.TrainState):
  """Flax TrainState plus BatchNorm statistics and a dropout key."""
  batch_stats: Any = None
  rng: jax.Array | None = None


# ------------------------------------------------------------- schedules


def curriculum_steps(config: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> int:
  """k in optimizer steps, from ``config.k_epochs`` (may be fractional)."""
  return max(1, int(round(config.k_epochs * steps_per_epoch)))


def total_steps(config: ml_collections.ConfigDict,
                steps_per_epoch: int) -> int:
  n = config.num_epochs * steps_per_epoch
  if config.get('num_train_steps', -1) and config.num_train_steps > 0:
    n = min(n, config.num_train_steps)
  return n


def create_learning_rate_fn(config: ml_collections.ConfigDict,
                            regime: Regime,
                            steps_per_epoch: int) -> optax.Schedule:
  """The base (global) learning rate as a function of the step.

  ``config.lr_schedule``: ``constant``; ``cosine`` (constant during the
  curriculum, then cosine decay to 0 at the last step); ``step`` (x
  ``step_decay_factor`` at each of ``step_decay_epochs``). The ``warmup``
  regime multiplies it by a linear ramp from ``warmup_init`` to 1 over the
  same k steps as LeRaC.

  Args:
    config: the experiment config.
    regime: the parsed regime.
    steps_per_epoch: optimizer steps per epoch.

  Returns:
    An optax schedule.
  """
  eta0 = config.learning_rate
  k = curriculum_steps(config, steps_per_epoch)
  n = config.num_epochs * steps_per_epoch
  if config.lr_schedule == 'constant':
    base = optax.constant_schedule(eta0)
  elif config.lr_schedule == 'cosine':
    base = optax.join_schedules(
        [optax.constant_schedule(eta0),
         optax.cosine_decay_schedule(eta0, max(1, n - k))], [k])
  elif config.lr_schedule == 'step':
    base = optax.piecewise_constant_schedule(
        eta0, {int(e * steps_per_epoch): config.step_decay_factor
               for e in config.step_decay_epochs})
  else:
    raise ValueError(f'unknown lr_schedule {config.lr_schedule!r}; use '
                     'constant, cosine or step')
  if not regime.warmup:
    return base
  ramp = optax.linear_schedule(config.warmup_init, 1.0, k)
  return lambda step: base(step) * ramp(step)


def create_optimizer(config: ml_collections.ConfigDict,
                     learning_rate: optax.Schedule
                     ) -> optax.GradientTransformation:
  """sgd (with momentum), adam, adamw or adamax, with weight decay.

  For sgd, adam and adamax weight decay is an L2 term added to the gradient
  (as in PyTorch); adamw decouples it.
  """
  name, wd = config.optimizer, config.weight_decay
  l2 = [optax.add_decayed_weights(wd)] if wd else []
  if name == 'sgd':
    return optax.chain(*l2, optax.sgd(learning_rate,
                                      momentum=config.momentum or None,
                                      nesterov=config.nesterov))
  if name == 'adam':
    return optax.chain(*l2, optax.adam(learning_rate))
  if name == 'adamw':
    return optax.adamw(learning_rate, weight_decay=wd)
  if name == 'adamax':
    return optax.chain(*l2, optax.adamax(learning_rate))
  raise ValueError(f'unknown optimizer {name!r}; use sgd, adam, adamw, adamax')


def lerac_kwargs(config: ml_collections.ConfigDict, regime: Regime,
                 steps_per_epoch: int,
                 initial_ratios: tuple[float, ...] | None = None
                 ) -> dict[str, Any]:
  """Keyword arguments for ``lerac_jax.lerac`` / ``lerac_jax.Curriculum``.

  Only the settings the chosen schedule and ratio rule use: the library
  refuses one given for another (it would be ignored).

  Args:
    config: the experiment config.
    regime: the parsed regime.
    steps_per_epoch: optimizer steps per epoch.
    initial_ratios: explicit ratios (``lerac/snr``) instead of
      ``config.lerac.initial_ratios``; ``min_scale`` then only clipped them.
  """
  c = config.lerac
  schedule = regime.schedule or c.schedule
  ratios = c.initial_ratios if initial_ratios is None else initial_ratios
  kwargs = dict(curriculum_steps=curriculum_steps(config, steps_per_epoch),
                schedule=schedule, initial_ratios=ratios)
  if isinstance(ratios, str):
    kwargs['min_scale'] = c.min_scale
  if ratios == 'decay':
    kwargs['decay_factor'] = c.decay_factor
  if schedule == 'staircase':
    kwargs['staircase_factor'] = c.staircase_factor
    if c.get('steps_per_event', 0):
      kwargs['steps_per_event'] = c.steps_per_event
  return kwargs


# ----------------------------------------------------------------- setup


@dataclasses.dataclass
class Setup:
  """Everything built once per (config, regime) and shared by all seeds."""
  config: ml_collections.ConfigDict
  regime: Regime
  dataset: input_pipeline.Dataset
  model: Any
  depths: lerac_jax.Depths
  tx: optax.GradientTransformation
  learning_rate_fn: optax.Schedule
  scales_fn: Callable[[Any], jax.Array]
  steps_per_epoch: int
  total_steps: int
  train_step: Callable[..., Any]
  eval_step: Callable[..., Any]
  # model.init, jitted: compiled once per setup, then every seed reuses it.
  init_fn: Callable[..., Any] | None = None
  # Fine-tuning: the pre-trained variables every seed starts from (all but
  # the head; see transplant_pretrained). None: from scratch.
  pretrained: Any = None


def sample_input(dataset: input_pipeline.Dataset) -> jax.ShapeDtypeStruct:
  x = dataset.train[0]
  return jax.ShapeDtypeStruct((1,) + x.shape[1:], x.dtype)


def create_model(config: ml_collections.ConfigDict,
                 dataset: input_pipeline.Dataset):
  return models.create_model(config.model, dataset.num_classes,
                             **config.get('model_kwargs', {}))


def _cross_entropy(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def classification_loss(model: Any, variables: dict[str, Any], x, y,
                        **apply_kwargs) -> Callable[[Any], Any]:
  """The mean cross-entropy of a batch as a function of the parameters.

  Args:
    model: the linen module.
    variables: its variables other than ``params`` (e.g. ``batch_stats``);
      every collection in it is updated by the forward pass.
    x: the inputs.
    y: the integer labels.
    **apply_kwargs: keyword arguments of ``model.apply`` (``train``,
      ``sigma``, ``rngs``).

  Returns:
    ``params -> (loss, (logits, updated variables))``, for
    :func:`optimizer_step`.
  """

  def loss_fn(params):
    logits, updates = model.apply({'params': params, **variables}, x,
                                  mutable=list(variables), **apply_kwargs)
    return _cross_entropy(logits, y).mean(), (logits, updates)

  return loss_fn


def optimizer_step(loss_fn: Callable[[Any], Any],
                   tx: optax.GradientTransformation, params: Any,
                   opt_state: Any) -> tuple[Any, Any, jax.Array, Any]:
  """One gradient step: the one place where every training loop updates.

  .. math::
    g = \\nabla_\\theta L(\\theta), \\quad (u, s') = \\mathrm{tx.update}(g, s,
    \\theta), \\quad \\theta' = \\theta + u

  Args:
    loss_fn: ``params -> (loss, aux)``.
    tx: the optimizer.
    params: the parameters before the step.
    opt_state: the optimizer state before the step.

  Returns:
    ``(params, opt_state, loss, aux)`` after the step.

  Example:
    >>> tx = optax.sgd(0.5)
    >>> p, s, loss, _ = optimizer_step(lambda p: (p ** 2, None), tx,
    ...                                jnp.float32(2.0), tx.init(0.0))
    >>> float(p), float(loss)
    (0.0, 4.0)
  """
  updates, opt_state, loss, aux = optimizer_updates(loss_fn, tx, params,
                                                    opt_state)
  return optax.apply_updates(params, updates), opt_state, loss, aux


def optimizer_updates(loss_fn: Callable[[Any], Any],
                      tx: optax.GradientTransformation, params: Any,
                      opt_state: Any) -> tuple[Any, Any, jax.Array, Any]:
  """The updates of :func:`optimizer_step`, before they are applied.

  Returns:
    ``(updates, opt_state, loss, aux)``: ``updates`` is what
    ``optax.apply_updates`` adds to ``params``.
  """
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return updates, opt_state, loss, aux


def make_train_step(model, learning_rate_fn, scales_fn, use_cbs,
                    depth_stats_fn=None):
  """A jitted step: (state, x, y, sigma) -> (state, metrics).

  The optimizer is not an argument: it lives in the state. With
  ``depth_stats_fn`` (``(updates, params, opt_state, lr) -> DepthStats``,
  see :func:`make_depth_stats_fn`) the metrics also hold ``depth_stats``,
  computed from this step's updates, the parameters before them and the
  optimizer state before them; without it the step is the plain one.
  """

  def train_step(state, x, y, sigma):
    loss_fn = classification_loss(
        model, {'batch_stats': state.batch_stats}, x, y, train=True,
        sigma=sigma if use_cbs else None,
        rngs={'dropout': jax.random.fold_in(state.rng, state.step)})
    lr = jnp.asarray(learning_rate_fn(state.step), jnp.float32)
    if depth_stats_fn is None:
      params, opt_state, loss, (logits, updates) = optimizer_step(
          loss_fn, state.tx, state.params, state.opt_state)
    else:
      deltas, opt_state, loss, (logits, updates) = optimizer_updates(
          loss_fn, state.tx, state.params, state.opt_state)
      params = optax.apply_updates(state.params, deltas)
    metrics = {
        'loss': loss,
        'accuracy': jnp.mean(jnp.argmax(logits, -1) == y),
        # The rates this very update uses: base lr and per-depth multipliers
        # read back from the optimizer state.
        'lr': lr,
        'scales': scales_fn(state.opt_state),
    }
    if depth_stats_fn is not None:
      metrics['depth_stats'] = depth_stats_fn(deltas, state.params,
                                              state.opt_state, lr)
    state = state.replace(step=state.step + 1, params=params,
                          opt_state=opt_state,
                          batch_stats=updates.get('batch_stats', {}))
    return state, metrics

  return jax.jit(train_step)


def make_eval_step(model, use_cbs):
  """A jitted eval: (state, x, y, sigma) -> per-example loss and correct."""

  def eval_step(state, x, y, sigma):
    logits = model.apply(
        {'params': state.params, 'batch_stats': state.batch_stats}, x,
        train=False, sigma=sigma if use_cbs else None)
    loss = _cross_entropy(logits, y)
    correct = jnp.argmax(logits, -1) == y
    return loss, correct

  return jax.jit(eval_step)


def snr_initial_ratios(config: ml_collections.ConfigDict, model: Any,
                       dataset: input_pipeline.Dataset,
                       depths: lerac_jax.Depths) -> tuple[float, ...]:
  """Initial ratios from the SNR per depth at initialisation (``lerac/snr``).

  The SNR is measured with ``lerac_jax.measure_snr`` on the first
  ``config.lerac.snr_probe_size`` training inputs, at the initialisation of
  seed 0 and in training mode (batch statistics, as the model trains), and
  turned into ratios by ``lerac_jax.snr_ratios``, clipped to
  ``[config.lerac.min_scale, 1]``. It is measured once per setup, so every
  seed of a regime shares the ratios (the profile varies little with the
  seed: see docs/calibration.md).
  """
  probe = jnp.asarray(dataset.train[0][:config.lerac.snr_probe_size])
  key = jax.random.key(0)
  variables = jax.jit(model.init)({'params': key, 'dropout': key}, probe[:1])
  others = {k: v for k, v in variables.items() if k != 'params'}

  def forward(params, x):
    logits, _ = model.apply({'params': params, **others}, x, train=True,
                            rngs={'dropout': key}, mutable=['batch_stats'])
    return logits

  snr = lerac_jax.measure_snr(forward, variables['params'], probe,
                              key=jax.random.key(1), depths=depths)
  ratios = lerac_jax.snr_ratios(snr, min_scale=config.lerac.min_scale)
  return tuple(float(r) for r in np.asarray(ratios))


def lerac_with_head_ratio(make_optimizer: Callable[[], optax.GradientTransformation],
                          depths: lerac_jax.Depths, kwargs: dict[str, Any],
                          head_ratio: float, regime: Regime
                          ) -> tuple[optax.GradientTransformation,
                                     Callable[[Any], jax.Array]]:
  """LeRaC whose head (the last depth) starts at its own ratio.

  The official ResNet code starts the head at ``clf_lr`` (1e-3 of eta0 on
  CIFAR-10) while the deepest blocks start lower (1e-5): a rise at the last
  depth, which one curriculum refuses (its ratios are non-increasing). So
  the head gets a curriculum of its own, ``optax.partition``-ed from the
  body's: the same schedule, k and, for the staircase, the same events
  (x``c`` each, capped at 1), starting at ``head_ratio``. The body keeps the
  configured ratios; its entry for the head's depth (masked out) is set to
  the last block's, so it does not change the body's event spacing.

  Args:
    make_optimizer: builds a fresh base optimizer (one per part).
    depths: the model's depths; the head is depth ``num_depths - 1``.
    kwargs: :func:`lerac_kwargs` for the body.
    head_ratio: the head's initial ratio, in ``(0, 1]``.
    regime: the parsed regime (the reversed control is refused).

  Returns:
    The optimizer and the per-depth multipliers as a function of its state
    (the head's in the last entry).

  Raises:
    ValueError: for a ratio outside (0, 1], the reversed or SNR regimes, or
      fewer than 2 depths.
  """
  if not 0 < head_ratio <= 1:
    raise ValueError(f'config.lerac.head_ratio must be in (0, 1] (0: the '
                     f'head keeps its depth\'s ratio); got {head_ratio}')
  if regime.reverse or regime.snr:
    raise ValueError(f'lerac.head_ratio={head_ratio} is for the forward '
                     f'curriculum with configured ratios; regime '
                     f'{regime.name!r} does not take it. Set it to 0.')
  n = depths.num_depths
  if n < 2:
    raise ValueError(f'lerac.head_ratio needs a head and a body: the model '
                     f'has {n} depth. Set it to 0.')
  k = kwargs['curriculum_steps']
  ratios = np.asarray(lerac_jax.Curriculum(**kwargs).curve(n)(0))
  body = tuple(float(r) for r in ratios[:-1]) + (float(ratios[-2]),)
  shared = {'curriculum_steps': k, 'schedule': kwargs['schedule']}
  if kwargs['schedule'] == 'staircase':
    c = kwargs['staircase_factor']
    events = max(1, math.ceil(-math.log(min(body)) / math.log(c) - 1e-4))
    shared.update(staircase_factor=c, steps_per_event=kwargs.get(
        'steps_per_event', k / events))
  last = n - 1

  def labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: 'head' if depths.depth_of(
            lerac_jax.depths.path_to_str(path)) == last else 'body', params)

  head_depths = {path: 0 for path, d in depths.table.items() if d == last}
  with warnings.catch_warnings():
    # The head alone is one depth; its ratio below 1 still makes a curve.
    warnings.filterwarnings('ignore', 'The LeRaC curriculum has a single')
    head_tx = lerac_jax.lerac(make_optimizer(), head_depths,
                              initial_ratios=(head_ratio,), **shared)
  tx = optax.partition({
      'body': lerac_jax.lerac(make_optimizer(), depths, initial_ratios=body,
                              **shared),
      'head': head_tx}, labels)

  def scales_fn(opt_state):
    inner = opt_state.inner_states
    body_scales = lerac_jax.current_scales(inner['body'])
    return body_scales.at[-1].set(lerac_jax.current_scales(inner['head'])[0])

  return tx, scales_fn


def create_setup(config: ml_collections.ConfigDict, regime: str | Regime,
                 dataset: input_pipeline.Dataset | None = None) -> Setup:
  """Builds the model, depths, optimizer and jitted steps for one regime."""
  if isinstance(regime, str):
    regime = Regime.parse(regime)
  if dataset is None:
    dataset = load_dataset(config)
  model = create_model(config, dataset)
  spe = input_pipeline.steps_per_epoch(len(dataset.train[0]),
                                       config.batch_size)
  depths = lerac_jax.depths_from_model(
      model, sample_input(dataset), group=config.lerac.group,
      block_level=config.lerac.block_level)
  if regime.reverse:
    depths = depths.reversed()
  lr_fn = create_learning_rate_fn(config, regime, spe)
  tx = create_optimizer(config, lr_fn)
  n = depths.num_depths
  if regime.lerac and config.lerac.get('head_ratio', 0.0):
    kwargs = lerac_kwargs(config, regime, spe)
    tx, inner_multipliers = lerac_with_head_ratio(
        lambda: create_optimizer(config, lr_fn), depths, kwargs,
        config.lerac.head_ratio, regime)
  elif regime.lerac:
    ratios = (snr_initial_ratios(config, model, dataset, depths)
              if regime.snr else None)
    kwargs = lerac_kwargs(config, regime, spe, ratios)
    tx = lerac_jax.lerac(tx, depths, **kwargs)
    inner_multipliers = lerac_jax.current_scales  # in depths' own order
  else:
    inner_multipliers = lambda opt_state: jnp.ones((n,), jnp.float32)
  tx = chain_layerwise(config, regime, depths, spe, tx)
  # Every multiplier of the final update (LeRaC's times layer decay's and
  # unfreezing's), so the logged rate is the trained rate in every regime.
  multipliers = update_multipliers_fn(regime, inner_multipliers)
  # Logged in forward depth order (column j = j-th layer from the input),
  # also for the reversed control, whose depth 0 is the head.
  order = slice(None, None, -1) if regime.reverse else slice(None)
  scales_fn = lambda opt_state: multipliers(opt_state)[order]
  depth_stats_fn = (make_depth_stats_fn(depths, multipliers)
                    if config.get('log_depth_stats', False) else None)
  pretrained = (pretrained_variables(config) if starts_pretrained(config)
                else None)
  return Setup(
      config=config, regime=regime, dataset=dataset, model=model,
      depths=depths, tx=tx, learning_rate_fn=lr_fn, scales_fn=scales_fn,
      steps_per_epoch=spe, total_steps=total_steps(config, spe),
      train_step=make_train_step(model, lr_fn, scales_fn, regime.cbs,
                                 depth_stats_fn),
      init_fn=jax.jit(model.init),
      eval_step=make_eval_step(model, regime.cbs), pretrained=pretrained)


# Datasets with their own loader; every other name is read through TFDS.
LOCAL_DATASETS = ('digits', 'fashion_mnist', 'pydoc_text')
# Options that only the TFDS reader knows, with the value that means "unset".
TFDS_ONLY_OPTIONS = {'tfds_reader': 'auto', 'max_test_examples': 0,
                     'image_size': 0}


def load_dataset(config: ml_collections.ConfigDict) -> input_pipeline.Dataset:
  """Loads ``config.dataset`` (see :func:`examples.input_pipeline.load`).

  Every dataset option is either honoured or refused: a TFDS-only option
  set for a local dataset raises instead of being ignored.

  Args:
    config: the experiment config.

  Returns:
    The dataset, with the validation split cut to
    ``config.max_validation_examples`` when that is set. For a fine-tuning
    config (``config.finetune``), its task: ``config.finetune.classes``
    with ``config.finetune.labels_per_class`` training examples each (see
    :func:`class_subset`).

  Raises:
    ValueError: a TFDS-only option is set for a local dataset.
  """
  kwargs = {}
  if config.get('max_train_examples', 0):
    kwargs['max_train_examples'] = config.max_train_examples
  if config.dataset in LOCAL_DATASETS:
    refused = [f'{name}={config.get(name)!r}'
               for name, unset in TFDS_ONLY_OPTIONS.items()
               if config.get(name, unset) != unset]
    if refused:
      raise ValueError(f'{", ".join(refused)}: only TFDS datasets take '
                       f'this; {config.dataset!r} does not')
    if config.dataset == 'pydoc_text':
      kwargs['seq_len'] = config.seq_len
  else:
    kwargs['reader'] = config.get('tfds_reader', 'auto')
    if config.get('max_test_examples', 0):
      kwargs['max_test_examples'] = config.max_test_examples
    if config.get('image_size', 0):
      kwargs['image_size'] = config.image_size
  dataset = input_pipeline.load(
      config.dataset, data_dir=config.get('data_dir') or None,
      download=config.get('download', False),
      validation_fraction=config.validation_fraction, **kwargs)
  n = config.get('max_validation_examples', 0)
  if n:  # the split is already a random permutation: keep its first n
    dataset.validation = tuple(a[:n] for a in dataset.validation)
  if config.get('finetune'):
    dataset = class_subset(dataset, config.finetune.classes,
                           config.finetune.labels_per_class)
  return dataset


def create_train_state(setup: Setup, seed: int) -> TrainState:
  """Initial state; the weights depend only on the model and the seed."""
  rng = jax.random.key(seed)
  init_rng, dropout_rng = jax.random.split(rng)
  init_fn = setup.init_fn or setup.model.init
  sample = sample_input(setup.dataset)
  variables = init_fn({'params': init_rng, 'dropout': init_rng},
                      jnp.zeros(sample.shape, sample.dtype))
  if setup.pretrained is not None:
    variables = transplant_pretrained(variables, setup.pretrained)
  return TrainState.create(
      apply_fn=setup.model.apply, params=variables['params'],
      batch_stats=variables.get('batch_stats', {}), tx=setup.tx,
      rng=dropout_rng)


# ------------------------------------ layer-wise regimes and fine-tuning


# The library's layer-wise engine: the function behind each fine-tuning
# regime. Looked up when a setup is built, never replaced by a fallback.
LAYERWISE_ENGINE = {'layer_decay': 'scale_by_layer_decay',
                    'unfreeze': 'scale_by_unfreezing'}
# Where pre-trained models are kept when config.finetune.checkpoint_dir is ''.
DEFAULT_CHECKPOINT_DIR = os.path.join(
    os.path.expanduser('~'), '.cache', 'lerac_jax', 'pretrained')
# Config fields that name places, not settings: they never enter a hash.
PATH_FIELDS = ('data_dir', 'checkpoint_dir')
# Config fields that only change what is logged: they never enter a hash
# either (so models pre-trained before such a field existed still match).
LOGGING_FIELDS = ('log_depth_stats',)
# Pre-trained models restored in this process, by checkpoint folder: every
# arm and rate of a study builds a setup, and one restore serves them all.
_RESTORED: dict[str, Any] = {}


def layerwise_transform(regime_part: str) -> Callable[..., Any]:
  """The lerac_jax function of a fine-tuning regime, or a clear error.

  Args:
    regime_part: ``'layer_decay'`` or ``'unfreeze'``.

  Returns:
    ``lerac_jax.scale_by_layer_decay`` or ``lerac_jax.scale_by_unfreezing``.

  Raises:
    NotImplementedError: the installed lerac_jax does not have it.
  """
  name = LAYERWISE_ENGINE[regime_part]
  fn = getattr(lerac_jax, name, None)
  if fn is None:
    raise NotImplementedError(
        f'regime {regime_part!r} needs lerac_jax.{name}, which the imported '
        f'lerac_jax ({os.path.dirname(lerac_jax.__file__)}) does not have. '
        'Use a lerac_jax with the layer-wise engine; this regime has no '
        'fallback.')
  return fn


def unfreeze_steps_per_depth(config: ml_collections.ConfigDict,
                             num_depths: int, steps_per_epoch: int) -> int:
  """``config.unfreeze.steps_per_depth``; 0 spreads the releases over k.

  With 0, one depth is released every ``k // (num_depths - 1)`` steps
  (at least 1), so the input depth is released by step k, when every
  curriculum of the program ends.
  """
  if 'unfreeze' not in config:
    raise ValueError("regime 'unfreeze' needs config.unfreeze.steps_per_depth"
                     ' (steps between two releases; 0 spreads them over k); '
                     'see examples/configs/finetune_fashion_mnist.py')
  n = config.unfreeze.steps_per_depth
  if n < 0:
    raise ValueError(f'config.unfreeze.steps_per_depth must be >= 0 steps '
                     f'(0: spread over k); got {n}')
  k = curriculum_steps(config, steps_per_epoch)
  return n or max(1, k // max(1, num_depths - 1))


def chain_layerwise(config: ml_collections.ConfigDict, regime: Regime,
                    depths: lerac_jax.Depths, steps_per_epoch: int,
                    tx: optax.GradientTransformation
                    ) -> optax.GradientTransformation:
  """Appends the fine-tuning regimes' per-depth multipliers to ``tx``.

  They scale the optimizer's final updates, after it (as LeRaC does), in
  the forward depth order: ``layer_decay`` multiplies depth ``d`` of ``D``
  by ``config.layer_decay.decay ** (D - 1 - d)``; ``unfreeze`` releases the
  deepest depth first, and also zeroes a frozen depth's gradients before
  the optimizer, so that, as with PyTorch's ``requires_grad=False``, its
  momentum and Adam moments stay at zero until it is released. Without
  either regime ``tx`` is returned as is.
  """
  if not (regime.layer_decay or regime.unfreeze):
    return tx
  if regime.reverse:
    raise ValueError(f'{regime.name!r}: layer_decay and unfreeze follow the '
                     'forward depth order; do not combine them with '
                     'lerac_reverse')
  parts = [tx]
  if regime.layer_decay:
    if 'layer_decay' not in config:
      raise ValueError("regime 'layer_decay' needs config.layer_decay.decay "
                       '(the factor per depth, in (0, 1]); see '
                       'examples/configs/finetune_fashion_mnist.py')
    parts.append(layerwise_transform('layer_decay')(
        depths, config.layer_decay.decay))
  if regime.unfreeze:
    steps = unfreeze_steps_per_depth(config, depths.num_depths,
                                     steps_per_epoch)
    unfreezing = layerwise_transform('unfreeze')
    parts = [unfreezing(depths, steps)] + parts + [unfreezing(depths, steps)]
  return optax.chain(*parts)


def update_multipliers_fn(regime: Regime,
                          inner: Callable[[Any], jax.Array]
                          ) -> Callable[[Any], jax.Array]:
  """The per-depth multipliers of the final update, from the whole chain.

  The effective learning rate of depth ``d`` is the base rate times the
  product of every multiplier applied to the optimizer's output: the inner
  optimizer's own (LeRaC's, read by ``inner``) times those
  :func:`chain_layerwise` appends after it (layer decay, the update-side
  unfreezing). The gradient-side unfreezing before the optimizer scales
  gradients, not the rate, and is left out. All in the depths' own order.

  Args:
    regime: the parsed regime.
    inner: the inner optimizer's multipliers from its state.

  Returns:
    ``opt_state -> (num_depths,)`` multipliers, read before the update (the
    ones it uses).
  """
  if not (regime.layer_decay or regime.unfreeze):
    return inner
  # chain_layerwise's chain: [unfreeze (gradients)], tx, [layer decay],
  # [unfreeze (updates)].
  first = 1 if regime.unfreeze else 0

  def multipliers(opt_state):
    m = inner(opt_state[first])
    for after in opt_state[first + 1:]:
      m = m * lerac_jax.current_scales(after)
    return m

  return multipliers


def make_depth_stats_fn(depths: lerac_jax.Depths,
                        multipliers: Callable[[Any], jax.Array]
                        ) -> Callable[..., lerac_jax.DepthStats]:
  """``(updates, params, opt_state, lr) -> lerac_jax.DepthStats`` of a step.

  The effective rate of depth ``d`` is ``lr * multipliers(opt_state)[d]``,
  with ``opt_state`` the state before the update.
  """

  def stats(updates, params, opt_state, lr):
    return lerac_jax.depth_stats(depths, updates, params, learning_rate=lr,
                                 scales=multipliers(opt_state))

  return stats


def forward_depth_stats(setup: Setup, stats: lerac_jax.DepthStats
                        ) -> tuple[lerac_jax.DepthStats, lerac_jax.Depths]:
  """The statistics and depths in forward order (input first), for logs.

  The reversed control's depths number from the head; its rows are flipped
  so that depth ``d`` means the same layer in every regime's logs.
  """
  if not setup.regime.reverse:
    return stats, setup.depths
  return (lerac_jax.DepthStats(*(np.asarray(a)[::-1] for a in stats)),
          setup.depths.reversed())


def starts_pretrained(config: ml_collections.ConfigDict) -> bool:
  """Whether runs start from the pre-trained model (``finetune.init``).

  Raises:
    ValueError: ``config.finetune.init`` is neither ``'pretrained'`` nor
      ``'scratch'``.
  """
  if not config.get('finetune'):
    return False
  init = config.finetune.init
  if init not in ('pretrained', 'scratch'):
    raise ValueError(f"config.finetune.init must be 'pretrained' or "
                     f"'scratch'; got {init!r}")
  return init == 'pretrained'


def class_subset(dataset: input_pipeline.Dataset, classes: tuple[int, ...],
                 per_class: int = 0) -> input_pipeline.Dataset:
  """The examples of ``classes`` only, relabelled ``0 .. len(classes) - 1``.

  Args:
    dataset: a classification dataset.
    classes: the original class ids to keep, in their new order.
    per_class: keep the first ``per_class`` training examples of each
      class (the split is already a fixed random permutation, so this is a
      fixed random subset); 0 keeps all. Validation and test keep every
      example of the classes.

  Returns:
    The dataset of those classes.

  Raises:
    ValueError: for an unknown or repeated class, or a class with fewer
      than ``per_class`` training examples.
  """
  classes = tuple(int(c) for c in classes)
  if (not classes or len(set(classes)) != len(classes)
      or not all(0 <= c < dataset.num_classes for c in classes)):
    raise ValueError(f'classes must be distinct ids in [0, '
                     f'{dataset.num_classes}) of {dataset.name}; got '
                     f'{classes}')
  relabel = np.full(dataset.num_classes, -1, np.int32)
  relabel[list(classes)] = np.arange(len(classes))

  def keep(split, limit):
    x, y = split
    if not limit:
      idx = np.flatnonzero(relabel[y] >= 0)
    else:
      per = [np.flatnonzero(y == c)[:limit] for c in classes]
      short = [c for c, i in zip(classes, per) if len(i) < limit]
      if short:
        raise ValueError(f'{dataset.name}: classes {short} have fewer than '
                         f'{limit} training examples; lower the per-class '
                         'count')
      idx = np.sort(np.concatenate(per))
    return x[idx], relabel[y[idx]]

  return dataclasses.replace(
      dataset, name=f'{dataset.name}[{",".join(map(str, classes))}]',
      train=keep(dataset.train, per_class),
      validation=keep(dataset.validation, 0), test=keep(dataset.test, 0),
      num_classes=len(classes))


def pretrain_config(config: ml_collections.ConfigDict
                    ) -> ml_collections.ConfigDict:
  """The pre-training run of a fine-tuning config.

  The default config with the fine-tuning config's data and model, and the
  optimisation of ``config.finetune.pretrain``: conventional training, a
  cosine decay over the whole run, no curriculum. Nothing of the
  fine-tuning regime enters it, so every fine-tune arm shares one
  pre-trained model.
  """
  from examples.configs import default  # pylint: disable=g-import-not-at-top
  p = config.finetune.pretrain
  c = default.get_config()
  for key in ('dataset', 'data_dir', 'download', 'validation_fraction',
              'max_validation_examples', 'model'):
    c[key] = config[key]
  c.model_kwargs = ml_collections.ConfigDict(config.model_kwargs.to_dict())
  for key in ('num_epochs', 'batch_size', 'optimizer', 'learning_rate',
              'momentum', 'weight_decay', 'seed'):
    c[key] = p[key]
  c.regime = 'conventional'
  c.lr_schedule = 'cosine'
  c.k_epochs = 0.0  # the cosine decay starts at step 1
  c.tensorboard = False
  c.eval_test_every_epoch = False
  return c


def pretrain_settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What identifies a pre-trained model (paths are not settings)."""
  settings = json.loads(pretrain_config(config).to_json())
  for key in PATH_FIELDS + LOGGING_FIELDS:
    settings.pop(key, None)
  p = config.finetune.pretrain
  settings['classes'] = [int(c) for c in p.classes]
  settings['examples_per_class'] = int(p.examples_per_class)
  return settings


def pretrain(config: ml_collections.ConfigDict
             ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Trains the pre-training run of a fine-tuning config.

  Returns:
    The model's variables (``params``, ``batch_stats``) after the last
    epoch, and a record (validation accuracy on the pre-training classes,
    steps, wall time).
  """
  pconfig = pretrain_config(config)
  p = config.finetune.pretrain
  dataset = class_subset(load_dataset(pconfig), p.classes,
                         p.examples_per_class)
  setup = create_setup(pconfig, pconfig.regime, dataset)
  state = create_train_state(setup, pconfig.seed)
  data_rng = np.random.default_rng(pconfig.seed)
  t0, step = time.time(), 0
  while step < setup.total_steps:
    state, metrics = train_epoch(setup, state, 0.0, step, data_rng)
    step += len(metrics)
  val = evaluate(setup, state, dataset.validation, 0.0)
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  return variables, {'val_accuracy': val['accuracy'], 'steps': step,
                     'wall_time': time.time() - t0}


def pretrained_folder(config: ml_collections.ConfigDict) -> str:
  """Where the pre-trained model of a fine-tuning config is kept.

  ``config.finetune.checkpoint_dir`` ('' = ``~/.cache/lerac_jax/pretrained``)
  joined with ``pretrain_<hash of pretrain_settings>``.
  """
  digest = hashlib.sha256(json.dumps(
      pretrain_settings(config), sort_keys=True).encode()).hexdigest()[:16]
  return os.path.abspath(os.path.join(
      config.finetune.checkpoint_dir or DEFAULT_CHECKPOINT_DIR,
      f'pretrain_{digest}'))


def pretrained_variables(config: ml_collections.ConfigDict
                         ) -> dict[str, Any]:
  """The pre-trained model of a fine-tuning config: restored, or trained.

  It is saved with orbax in :func:`pretrained_folder`, named by a hash of
  :func:`pretrain_settings`, beside ``pretrain.json`` (those settings and
  the record of :func:`pretrain`). So every arm and seed shares one
  pre-training, and a changed setting never restores a stale model.

  Raises:
    ValueError: the folder holds a model trained with other settings.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  settings = pretrain_settings(config)
  folder = pretrained_folder(config)
  info_path = os.path.join(folder, 'pretrain.json')
  if folder in _RESTORED and os.path.exists(info_path):
    return _RESTORED[folder]
  checkpointer = ocp.StandardCheckpointer()
  if os.path.exists(info_path):
    with open(info_path) as f:
      info = json.load(f)
    if info['settings'] != settings:
      raise ValueError(f'{folder} holds a model pre-trained with other '
                       'settings; delete the folder or use another '
                       'config.finetune.checkpoint_dir')
    _RESTORED[folder] = checkpointer.restore(
        os.path.join(folder, 'variables'))
    return _RESTORED[folder]
  variables, record = pretrain(config)
  # force: a save cut short by a kill left a folder without pretrain.json.
  checkpointer.save(os.path.join(folder, 'variables'), variables, force=True)
  checkpointer.wait_until_finished()
  tmp = info_path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump({'settings': settings, 'record': record}, f, indent=1)
  os.replace(tmp, info_path)  # written last: its presence means complete
  return variables


def transplant_pretrained(variables: dict[str, Any],
                          pretrained: dict[str, Any],
                          fresh: tuple[str, ...] = ('head',)
                          ) -> dict[str, Any]:
  """Freshly initialised variables with the pre-trained ones copied in.

  Every variable except those of the top-level modules in ``fresh`` (the
  new head, initialised by the seed) is taken from ``pretrained``.

  Raises:
    ValueError: a variable is missing from ``pretrained`` or has another
      shape (the checkpoint belongs to another model).
  """
  new = traverse_util.flatten_dict(variables, sep='/')
  old = traverse_util.flatten_dict(pretrained, sep='/')
  out = {}
  for path, value in new.items():
    if path.split('/')[1] in fresh:
      out[path] = value
      continue
    source = old.get(path)
    if source is None or np.shape(source) != np.shape(value):
      raise ValueError(
          f'the pre-trained model has no {path!r} of shape '
          f'{np.shape(value)} (found '
          f'{None if source is None else np.shape(source)}): it was trained '
          'for another model; check config.model and config.model_kwargs')
    out[path] = jnp.asarray(source, value.dtype)
  return traverse_util.unflatten_dict(out, sep='/')


# ------------------------------------------------------------ evaluation


def evaluate(setup: Setup, state: TrainState, split: tuple[np.ndarray,
                                                           np.ndarray],
             sigma: float) -> dict[str, Any]:
  """Loss, accuracy (and bits per character) on a split.

  Batches are padded to a fixed size so evaluation compiles once.

  Returns:
    A dict with ``loss``, ``accuracy``, ``bpc`` (language models) and
    ``correct``, the per-example (per character for LMs) booleans.
  """
  x, y = split
  bs = setup.config.get('eval_batch_size', 512)
  losses, corrects = [], []
  for i in range(0, len(x), bs):
    xb, yb = x[i:i + bs], y[i:i + bs]
    n = len(xb)
    if n < bs:  # pad to one common shape, so evaluation compiles once
      pad = [(0, bs - n)] + [(0, 0)] * (xb.ndim - 1)
      xb, yb = np.pad(xb, pad), np.pad(yb, pad[:yb.ndim])
    loss, correct = setup.eval_step(state, xb, yb, jnp.float32(sigma))
    losses.append(np.asarray(loss)[:n])
    corrects.append(np.asarray(correct)[:n])
  loss = np.concatenate(losses)
  correct = np.concatenate(corrects)
  out = {'loss': float(loss.mean()), 'accuracy': float(correct.mean()),
         'correct': correct.reshape(-1)}
  if setup.dataset.task == 'lm':
    out['bpc'] = out['loss'] / math.log(2)
  return out


def primary_metric(task: str) -> tuple[str, bool]:
  """The reported metric and whether higher is better."""
  return ('bpc', False) if task == 'lm' else ('accuracy', True)


# --------------------------------------------------------------- logging


class RunLogger:
  """Per-step JSONL and TensorBoard (tensorboardX) logs of one run."""

  def __init__(self, workdir: str | None, tensorboard: bool = True):
    self.workdir = workdir
    self.writer = None
    self._steps = self._evals = None
    if workdir:
      os.makedirs(workdir, exist_ok=True)
      self._steps = open(os.path.join(workdir, 'steps.jsonl'), 'w')
      self._evals = open(os.path.join(workdir, 'eval.jsonl'), 'w')
      if tensorboard:
        from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
        self.writer = SummaryWriter(workdir)

  def steps(self, records: list[dict[str, Any]]) -> None:
    for r in records:
      if self._steps:
        self._steps.write(json.dumps(r) + '\n')
      if self.writer:
        s = r['step']
        self.writer.add_scalar('train/loss', r['loss'], s)
        self.writer.add_scalar('train/accuracy', r['accuracy'], s)
        self.writer.add_scalar('lr/base', r['lr'], s)
        for j, m in enumerate(r['scales']):
          self.writer.add_scalar(f'lr/depth_{j:02d}', r['lr'] * m, s)

  def depth_stats(self, stats: lerac_jax.DepthStats, step: int) -> None:
    """TensorBoard scalars ``depth/<d>/<statistic>`` of one step."""
    if not self.writer:
      return
    for name, values in stats._asdict().items():
      for d, v in enumerate(np.asarray(values)):
        self.writer.add_scalar(f'depth/{d:02d}/{name}', float(v), step)

  def eval(self, record: dict[str, Any]) -> None:
    if self._evals:
      self._evals.write(json.dumps(record) + '\n')
    if self.writer:
      for k, v in record.items():
        if k not in ('step', 'epoch') and isinstance(v, (int, float)):
          self.writer.add_scalar(k.replace('_', '/', 1), v, record['step'])

  def close(self) -> None:
    for f in (self._steps, self._evals):
      if f:
        f.close()
    if self.writer:
      self.writer.close()


# ------------------------------------------------------------- training


def show_progress_bar() -> bool:
  """A progress bar only on a terminal: piped output gets plain lines."""
  return sys.stderr.isatty()


def train_epoch(setup: Setup, state: TrainState, sigma: float, step: int,
                data_rng: np.random.Generator,
                bar: tqdm.tqdm | None = None
                ) -> tuple[TrainState, list[dict[str, Any]]]:
  """One pass over the shuffled training split, stopping at the step budget.

  Args:
    setup: the regime's setup.
    state: the state before the epoch.
    sigma: the CBS sigma of this epoch.
    step: the number of steps taken before this epoch.
    data_rng: the run's batch-order generator (advanced here).
    bar: a progress bar to advance once per step.

  Returns:
    The new state and, per step, the metrics of ``train_step`` on the host.
  """
  data = setup.dataset
  metrics = []
  for x, y in input_pipeline.batches(*data.train, setup.config.batch_size,
                                     data_rng):
    if step + len(metrics) >= setup.total_steps:
      break
    state, m = setup.train_step(state, x, y, jnp.float32(sigma))
    metrics.append(m)
    if bar is not None:
      bar.update(1)
  return state, jax.device_get(metrics)


def step_records(metrics: list[dict[str, Any]], first_step: int, epoch: int,
                 log_every: int = 1) -> list[dict[str, Any]]:
  """JSON-ready per-step records, every ``log_every``-th step."""
  return [{'step': s, 'epoch': epoch, 'loss': float(m['loss']),
           'accuracy': float(m['accuracy']), 'lr': float(m['lr']),
           'scales': [float(v) for v in m['scales']]}
          for s, m in enumerate(metrics, first_step) if s % log_every == 0]


def log_depth_stats(setup: Setup, logger: RunLogger,
                    stats: lerac_jax.DepthStats, step: int,
                    epoch: int) -> None:
  """The per-depth statistics of one step, to TensorBoard and the console.

  Rows in forward depth order (:func:`forward_depth_stats`), labelled with
  the modules of each depth.
  """
  stats, depths = forward_depth_stats(setup, stats)
  logger.depth_stats(stats, step)
  print(f'epoch {epoch}, step {step} (the epoch\'s last), per depth:\n'
        f'{lerac_jax.format_depth_stats(stats, depths)}', flush=True)


def eval_record(setup: Setup, state: TrainState, step: int, epoch: int,
                sigma: float, best_val: float | None, with_test: bool
                ) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
  """Evaluates validation (and test) after an epoch.

  Args:
    setup: the regime's setup.
    state: the state to evaluate.
    step: steps taken so far.
    epoch: epochs finished so far (0: before training).
    sigma: the CBS sigma used for evaluation.
    best_val: the best validation metric of earlier epochs (None: none yet).
    with_test: evaluate test even if validation did not improve.

  Returns:
    The record logged to ``eval.jsonl``, the test evaluation (None when
    skipped) and whether validation improved on ``best_val``.
  """
  metric, higher = primary_metric(setup.dataset.task)
  val = evaluate(setup, state, setup.dataset.validation, sigma)
  improved = epoch > 0 and (best_val is None or (
      val[metric] > best_val if higher else val[metric] < best_val))
  # The test split is needed only at the end and when validation improves
  # (for the best-validation-epoch result); every epoch if asked.
  test = (evaluate(setup, state, setup.dataset.test, sigma)
          if with_test or improved else None)
  record = {'step': step, 'epoch': epoch,
            **{f'val_{k}': v for k, v in val.items() if k != 'correct'}}
  if test is not None:
    record.update({f'test_{k}': v for k, v in test.items() if k != 'correct'})
  if setup.regime.cbs:
    record['cbs_sigma'] = sigma
  return record, test, improved


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | None = None,
                       setup: Setup | None = None,
                       seed: int | None = None,
                       progress: bool | None = None) -> dict[str, Any]:
  """Trains one regime with one seed and evaluates it after every epoch.

  Args:
    config: the experiment config (``config.regime``, ``config.seed``).
    workdir: where to write ``steps.jsonl``, ``eval.jsonl`` and TensorBoard
      events; None writes nothing.
    setup: a prebuilt :class:`Setup` (shares compiled steps across seeds).
    seed: overrides ``config.seed``.
    progress: show a tqdm progress bar; None shows one when stderr is a
      terminal.

  Returns:
    A dict with the regime, seed, per-epoch ``history`` (validation and test
    metrics), ``final`` and ``best`` (best validation epoch) metrics with
    per-example test correctness, the per-step base lr and per-depth
    multipliers, and the wall time.
  """
  if setup is None:
    setup = create_setup(config, config.regime)
  seed = config.seed if seed is None else seed
  if progress is None:
    progress = show_progress_bar()
  metric, higher = primary_metric(setup.dataset.task)
  test_every_epoch = config.get('eval_test_every_epoch', True)
  logger = RunLogger(workdir, config.get('tensorboard', True))
  state = create_train_state(setup, seed)
  data_rng = np.random.default_rng(seed)
  t0 = time.time()

  def sigma_at(epoch):
    return cbs.sigma_at_epoch(epoch, config.cbs.sigma, config.cbs.decay,
                              config.cbs.every_epochs)

  record, test, _ = eval_record(setup, state, 0, 0, sigma_at(0), None,
                                test_every_epoch or setup.total_steps == 0)
  history, best = [record], None
  logger.eval(record)
  lr_log = {'step': [], 'lr': [], 'scales': []}
  step = epoch = 0
  with tqdm.tqdm(total=setup.total_steps, disable=not progress,
                 desc=f'{setup.regime.name} seed {seed}') as bar:
    while step < setup.total_steps:
      sigma = sigma_at(epoch)
      state, metrics = train_epoch(setup, state, sigma, step, data_rng, bar)
      records = step_records(metrics, step, epoch, config.get('log_every', 1))
      logger.steps(records)
      if metrics and 'depth_stats' in metrics[-1]:
        log_depth_stats(setup, logger, metrics[-1]['depth_stats'],
                        step + len(metrics) - 1, epoch + 1)
      for r in records:
        for key in lr_log:
          lr_log[key].append(r[key])
      step, epoch = step + len(metrics), epoch + 1
      record, test, improved = eval_record(
          setup, state, step, epoch, sigma,
          best['val'] if best else None,
          test_every_epoch or step >= setup.total_steps)
      if metrics:  # the epoch's mean training loss, as float32 steps
        record['train_loss'] = float(np.mean([m['loss'] for m in metrics]))
      history.append(record)
      logger.eval(record)
      if improved:
        best = {'epoch': epoch, 'step': step, 'val': record[f'val_{metric}'],
                'test': test[metric], 'test_correct': test['correct']}
      bar.set_postfix({f'val_{metric}': f'{record[f"val_{metric}"]:.4f}'})
  logger.close()
  if best is None:  # no epoch finished (num_train_steps=0)
    best = {'epoch': 0, 'step': 0, 'val': history[-1][f'val_{metric}'],
            'test': history[-1][f'test_{metric}'], 'test_correct': None}
  final = history[-1]
  return {
      'regime': setup.regime.name, 'seed': seed, 'metric': metric,
      'higher_is_better': higher, 'steps': step, 'epochs': epoch,
      'steps_per_epoch': setup.steps_per_epoch,
      'num_depths': setup.depths.num_depths,
      'final': {'val': final[f'val_{metric}'],
                'test': final[f'test_{metric}'],
                'test_correct': test['correct'] if test else None},
      'best': best, 'history': history, 'lr_log': lr_log,
      'wall_time': time.time() - t0,
  }


# ------------------------------------------------- several seeds at once

# How the seeds of one step share a compiled program (see make_seed_step).
SEED_MODES = ('unroll', 'vmap')


def stack_states(states: list[Any]) -> Any:
  """One pytree with a leading seed axis from one state per seed."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def seed_batch_order(seeds: list[int], epoch: int, num_examples: int,
                     batch_size: int) -> np.ndarray:
  """(steps, seeds, batch) indices: each seed's own shuffle of one epoch.

  Seed s's order comes from ``numpy.random.default_rng([s, epoch])``, so it
  does not depend on the other seeds or on how many run together.

  Example:
    >>> order = seed_batch_order([0, 1], 0, 10, 4)
    >>> order.shape, bool((order[:, 0] == seed_batch_order([0], 0, 10, 4)[:, 0]).all())
    ((2, 2, 4), True)
  """
  steps = input_pipeline.steps_per_epoch(num_examples, batch_size)
  orders = [np.random.default_rng([s, epoch]).permutation(num_examples)
            [:steps * batch_size].reshape(steps, batch_size) for s in seeds]
  return np.stack(orders, axis=1).astype(np.int32)


def make_seed_step(setup: Setup, seed_mode: str = 'unroll'):
  """A jitted step of every seed: (states, x, y, idx) -> (states, metrics).

  ``states`` carry a leading seed axis (:func:`stack_states`); ``idx`` is one
  step of :func:`seed_batch_order`, (seeds, batch) indices into the training
  arrays ``x`` and ``y``, which stay on the device. ``seed_mode`` says how
  the seeds share the step:

  * ``'vmap'``: ``jax.vmap`` of ``setup.train_step``. Each seed has its own
    kernels, so every convolution becomes one grouped convolution
    (``feature_group_count`` = seeds), with the activations transposed to put
    the seed axis beside the channels and back around each one.
  * ``'unroll'``: ``setup.train_step`` written out once per seed in the same
    program: ordinary convolutions on each seed's batch, which XLA schedules
    as it likes; about seeds times the compile time of one step.

  Args:
    setup: the regime's setup.
    seed_mode: one of :data:`SEED_MODES`.

  Returns:
    The jitted step (its ``states`` argument is donated); metrics are
    (seeds, ...) arrays of ``loss``, ``lr`` and ``scales``.
  """
  if seed_mode not in SEED_MODES:
    raise ValueError(f'seed_mode={seed_mode!r}; use one of {SEED_MODES}')
  no_blur = jnp.float32(0.0)  # train_seeds refuses CBS regimes

  def keep(metrics):
    return {k: metrics[k] for k in ('loss', 'lr', 'scales')}

  def vmapped(states, x, y, idx):
    states, metrics = jax.vmap(setup.train_step, in_axes=(0, 0, 0, None))(
        states, x[idx], y[idx], no_blur)
    return states, keep(metrics)

  def unrolled(states, x, y, idx):
    outs = [setup.train_step(jax.tree.map(lambda a, i=i: a[i], states),
                             x[idx[i]], y[idx[i]], no_blur)
            for i in range(idx.shape[0])]
    return (stack_states([state for state, _ in outs]),
            stack_states([keep(metrics) for _, metrics in outs]))

  return jax.jit(vmapped if seed_mode == 'vmap' else unrolled,
                 donate_argnums=0)


def make_seed_evaluate(setup: Setup, batch_size: int):
  """``(states, split) -> (seeds,)`` accuracies, every seed in one batch."""
  step = jax.jit(jax.vmap(setup.eval_step, in_axes=(0, None, None, None)))

  def evaluate_seeds(states, split) -> np.ndarray:
    x, y = split
    correct = []
    for i in range(0, len(x), batch_size):
      xb, yb = x[i:i + batch_size], y[i:i + batch_size]
      n = len(xb)
      if n < batch_size:  # one shape, one compilation
        xb = np.pad(xb, [(0, batch_size - n)] + [(0, 0)] * (xb.ndim - 1))
        yb = np.pad(yb, (0, batch_size - n))
      _, c = step(states, xb, yb, jnp.float32(0.0))
      correct.append(np.asarray(c)[:, :n])
    return np.concatenate(correct, axis=1).mean(axis=1)

  return evaluate_seeds


def train_seeds(setup: Setup, seeds: list[int], seed_mode: str = 'unroll',
                eval_batch_size: int | None = None
                ) -> Iterator[dict[str, Any]]:
  """Trains every seed at once and yields a record after each epoch.

  Seed s starts from :func:`create_train_state` (``setup``, s) and reads
  :func:`seed_batch_order`'s batches; an epoch is a Python loop over the
  jitted :func:`make_seed_step`, as :func:`train_epoch` is for one seed (on
  XLA:CPU a step inside ``lax.scan`` runs many times slower than the same
  step called from Python). The step is compiled before the first epoch, so
  ``train_s`` is execution only and ``compile_s`` says what compiling took.
  Stop early by leaving the loop: every epoch already yielded is complete.

  Args:
    setup: the regime's setup (no CBS; the whole of ``config.num_epochs``).
    seeds: the seeds, trained together.
    seed_mode: how the seeds share a step (:func:`make_seed_step`).
    eval_batch_size: evaluation batch (default ``config.eval_batch_size``).

  Yields:
    Per epoch: ``epoch`` (from 1), per-seed ``train_loss`` (the epoch's
    mean), ``val`` and ``test`` accuracy, ``lr_end`` (the base rate of the
    last step), ``smallest_multiplier_first_step`` (the smallest per-depth
    multiplier of the epoch's first step), ``compile_s`` (first epoch only),
    ``train_s``, ``eval_s`` and ``wall_s``.

  Raises:
    ValueError: for a CBS regime, a step budget (``num_train_steps``) that
      ends mid-epoch, or ``config.log_depth_stats`` (not logged here).
  """
  config, data = setup.config, setup.dataset
  if setup.regime.cbs:
    raise ValueError(f'train_seeds: regime {setup.regime.name!r} uses CBS, '
                     'whose sigma changes per epoch; train it with '
                     'train_and_evaluate')
  if setup.total_steps != config.num_epochs * setup.steps_per_epoch:
    raise ValueError(f'train_seeds trains whole epochs; num_train_steps='
                     f'{config.num_train_steps} ends mid-epoch. Set it to -1.')
  if config.get('log_depth_stats', False):
    raise ValueError('train_seeds does not log per-depth statistics; set '
                     'config.log_depth_stats=False, or train one seed at a '
                     'time with train_and_evaluate to log them')
  states = stack_states([create_train_state(setup, s) for s in seeds])
  x, y = jnp.asarray(data.train[0]), jnp.asarray(data.train[1])
  evaluate_seeds = make_seed_evaluate(
      setup, eval_batch_size or config.get('eval_batch_size', 512))
  orders = (seed_batch_order(seeds, epoch, len(data.train[0]),
                             config.batch_size)
            for epoch in range(config.num_epochs))
  order = next(orders)
  t0 = time.time()
  step = make_seed_step(setup, seed_mode).lower(states, x, y,
                                                order[0]).compile()
  compile_s = time.time() - t0
  for epoch in range(config.num_epochs):
    t_epoch = time.time()
    if epoch:
      order = next(orders)
    metrics = []
    for idx in order:
      states, m = step(states, x, y, idx)
      metrics.append(m)
    metrics = jax.device_get(metrics)
    train_s = time.time() - t_epoch
    loss = np.array([m['loss'] for m in metrics])  # (steps, seeds)
    val = evaluate_seeds(states, data.validation)
    test = evaluate_seeds(states, data.test)
    record = {
        'epoch': epoch + 1, 'train_loss': loss.mean(axis=0).tolist(),
        'val': val.tolist(), 'test': test.tolist(),
        'lr_end': float(metrics[-1]['lr'][0]),
        'smallest_multiplier_first_step': float(metrics[0]['scales'].min()),
        'train_s': train_s, 'eval_s': time.time() - t_epoch - train_s,
        'wall_s': time.time() - t_epoch}
    if epoch == 0:
      record['compile_s'] = compile_s
    yield record
