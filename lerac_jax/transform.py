# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""LeRaC as an Optax gradient transformation: the engine with a curriculum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optax

from lerac_jax import engine
from lerac_jax import reading
from lerac_jax import settings as settings_lib

ArrayLike = settings_lib.ArrayLike

LeracState = engine.DepthScaleState
"""The state of :func:`scale_by_lerac`: the engine's
:class:`lerac_jax.DepthScaleState` (the same class)."""

# Kept here too: tests and older code read the state through this module.
find_state = reading.find_state
find_count = reading.find_count
current_scales = reading.current_scales


def scale_by_lerac(
    depths: Any,
    *,
    curriculum_steps: ArrayLike,
    schedule: str = "exponential",
    min_scale: ArrayLike | None = None,
    initial_ratios: str | Sequence[float] = "geometric",
    decay_factor: ArrayLike | None = None,
    steps_per_event: ArrayLike | None = None,
    staircase_factor: ArrayLike | None = None,
    layer_axis_name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Scales each layer's updates by its LeRaC curriculum multiplier.

  Layer ``j`` at depth rank ``d_j`` gets its update multiplied by

  .. math::
    m_{d_j}(t) = r_{d_j}^{\,1 - \min(t/k,\,1)}
    \quad\text{(exponential, the paper's Eq. 8)},

  with ``r_0 = 1`` at the input down to ``r_{n-1} = \text{min\_scale}`` at the
  deepest depth. Multiplying the optimizer's final update by ``m`` is the same
  as giving layer ``j`` the learning rate :math:`\eta_0 m_{d_j}(t)`, the way
  PyTorch param groups do, so this goes **after** the optimizer (see
  :func:`lerac`): placed before Adam, Adam's normalisation would cancel it. From
  step ``k`` on every multiplier is exactly 1.

  This is :func:`lerac_jax.scale_by_depth` with the curriculum's
  multipliers. The settings are validated once, as a
  :class:`lerac_jax.Curriculum` (see there for what is refused, and how
  traced settings are clamped). The state is the engine's: the int32 step
  count and the ``(num_depths,)`` float32 multipliers of the next update
  (``4 * (num_depths + 1)`` bytes, nothing per parameter), read by
  :func:`lerac_jax.current_scales`.

  Args:
    depths: which depth each parameter has; see
      :func:`lerac_jax.scale_by_depth`.
    curriculum_steps: ``k``, in optimizer steps (with ``optax.MultiSteps``,
      real updates, not micro-batches); > 0.
    schedule: ``'exponential'`` (default), ``'linear'``, ``'log'``,
      ``'cosine'`` or ``'staircase'`` (see :mod:`lerac_jax.schedules`).
    min_scale: ``eta_n(0) / eta0``, the deepest initial ratio, in
      ``[tiny, 1]`` (``tiny``: float32's smallest normal); default 1e-6 (the
      paper uses 5 to 7 orders of magnitude). Refused with explicit
      ``initial_ratios``.
    initial_ratios: ``'geometric'`` (default, log-uniform from 1 to
      ``min_scale``), ``'decay'`` (``max(min_scale, decay_factor ** j)``, the
      official code's per-block rule) or an explicit non-increasing sequence.
    decay_factor: ``initial_ratios='decay'`` only: the per-depth factor in
      (0, 1]; default 0.1.
    steps_per_event: staircase only: steps between x``c`` events; default
      spreads the events so the deepest depth reaches 1 at ``k``.
    staircase_factor: staircase only: ``c``, finite and > 1; default 10.
    layer_axis_name: only for updates inside ``jax.shard_map`` where a
      stacked leaf's layer axis is sharded over this mesh axis: each device
      then holds a block of the slices and takes its block of the per-slice
      multipliers. Not needed under ``jit`` with ``NamedSharding``.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` object.

  Raises:
    ValueError: for invalid settings, or settings given for a schedule or
      ratio rule they do not belong to (when built); a parameter tree that
      does not match ``depths`` (at ``init``, or at the first trace of
      ``update``); a callable ``depths`` whose result changes between init and
      a trace; a stacked leaf sharded over ``layer_axis_name`` whose slices do
      not add up to its per-slice depths.
    TypeError: if ``update`` gets a state that is not a :class:`LeracState`
      (the engine's :class:`lerac_jax.DepthScaleState`).

  Warns:
    UserWarning: if there is a single depth (the curriculum does nothing).

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params = {'stem': jnp.ones(2), 'head': jnp.ones(2)}
    >>> tx = optax.chain(
    ...     optax.sgd(0.1),
    ...     lerac_jax.scale_by_lerac({'stem': 0, 'head': 1},
    ...                              curriculum_steps=10, min_scale=1e-3))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(params, state)
    >>> updates['stem'].tolist(), updates['head'].tolist()  # doctest: +ELLIPSIS
    ([-0.1..., -0.1...], [-0.0001..., -0.0001...])

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024.
  """
  curriculum = settings_lib.Curriculum(
      curriculum_steps=curriculum_steps,
      schedule=schedule,
      min_scale=min_scale,
      initial_ratios=initial_ratios,
      decay_factor=decay_factor,
      steps_per_event=steps_per_event,
      staircase_factor=staircase_factor,
  )
  return engine.scale_by_depth(depths, curriculum,
                               layer_axis_name=layer_axis_name)


def lerac(
    optimizer: optax.GradientTransformation,
    depths: Any,
    *,
    curriculum_steps: ArrayLike,
    schedule: str = "exponential",
    min_scale: ArrayLike | None = None,
    initial_ratios: str | Sequence[float] = "geometric",
    decay_factor: ArrayLike | None = None,
    steps_per_event: ArrayLike | None = None,
    staircase_factor: ArrayLike | None = None,
    layer_axis_name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""An optimizer with a LeRaC curriculum: ``chain(optimizer, scale_by_lerac)``.

  .. math::
    \theta_j \leftarrow \theta_j + m_{d_j}(t)\, u_j(t),

  where :math:`u_j` is ``optimizer``'s update (learning rate and sign
  included) and :math:`m` the curriculum of :func:`scale_by_lerac`. This gives
  layer ``j`` the learning rate :math:`\eta_0 m_{d_j}(t)` exactly as PyTorch
  per-group ``lr`` values do, for SGD (with momentum and weight decay), Adam
  and AdamW alike.

  Args:
    optimizer: any optax optimizer, e.g. ``optax.sgd(0.1, momentum=0.9)``.
    depths: see :func:`scale_by_lerac`.
    curriculum_steps: ``k`` in optimizer steps; see :func:`scale_by_lerac`.
    schedule: see :func:`scale_by_lerac`.
    min_scale: see :func:`scale_by_lerac`.
    initial_ratios: see :func:`scale_by_lerac`.
    decay_factor: see :func:`scale_by_lerac`.
    steps_per_event: see :func:`scale_by_lerac`.
    staircase_factor: see :func:`scale_by_lerac`.
    layer_axis_name: see :func:`scale_by_lerac`.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` object whose state is
    ``(optimizer_state, LeracState)``.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params = {'stem': jnp.ones(2), 'head': jnp.ones(2)}
    >>> tx = lerac_jax.lerac(optax.adamw(1e-3), {'stem': 0, 'head': 1},
    ...                      curriculum_steps=100)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(params, state, params)

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024.
  """
  return optax.chain(
      optimizer,
      scale_by_lerac(
          depths,
          curriculum_steps=curriculum_steps,
          schedule=schedule,
          min_scale=min_scale,
          initial_ratios=initial_ratios,
          decay_factor=decay_factor,
          steps_per_event=steps_per_event,
          staircase_factor=staircase_factor,
          layer_axis_name=layer_axis_name,
      ),
  )
