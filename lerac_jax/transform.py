# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""LeRaC as an Optax gradient transformation."""

from __future__ import annotations

from collections.abc import Sequence
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerac_jax import depths as depth_lib
from lerac_jax import schedules

ArrayLike = schedules.ArrayLike


class LeracState(NamedTuple):
  """State of :func:`scale_by_lerac`: the optimizer step count only."""

  count: jax.Array  # shape=(), dtype=jnp.int32


def _is_params_placeholder(params: Any) -> bool:
  # optax.tree.map_params calls init with a placeholder instead of params.
  return type(params).__name__ == "_ParamsPlaceholder"


def _validate_settings(depths, kwargs) -> None:
  """Checks every concrete setting once, when the transformation is built.

  Building the curve runs every check (``make_curve`` and the ratio
  functions validate their arguments).
  """
  if isinstance(depths, depth_lib.Depths):
    schedules.make_curve(depths.num_depths, **kwargs)
  else:  # the depth count, hence an explicit ratio list, is checked at init
    ratios = kwargs["initial_ratios"]
    schedules.make_curve(1, **{**kwargs, "initial_ratios": (
        ratios if isinstance(ratios, str) else "geometric")})


def _depth_scalars(multipliers: jax.Array, values: Sequence[Any]) -> dict:
  """One scalar per depth used by a plain (non-stacked) leaf.

  They come out of one variadic reduction, not out of ``multipliers[d]``: XLA
  fuses a slice into every consumer, so same-shaped layers would get update
  kernels that differ only in the slice index and are compiled one by one (a
  24-layer MLP compiled 1.8x slower than without LeRaC). A reduction is not
  fused into its consumers, so those kernels stay identical and are compiled
  once; a single variadic one is a single extra kernel whatever the depth
  count (see benchmarks/README.md).
  """
  used = tuple(sorted({v for v in values if isinstance(v, int)}))
  if not used:
    return {}
  return dict(zip(used, _pick(used, multipliers)))


def _one_hot_products(used, vector):
  # iota, not rows of np.eye: no D x D constant in the HLO for D depths.
  index = jax.lax.iota(jnp.int32, vector.shape[0])
  zero = jnp.zeros((), vector.dtype)
  return tuple(jnp.where(index == d, vector, zero) for d in used)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _pick(used: tuple[int, ...], vector: jax.Array) -> tuple[jax.Array, ...]:
  """``tuple(vector[d] for d in used)`` as one variadic ``lax.reduce``."""
  zeros = tuple(np.zeros((), vector.dtype) for _ in used)
  return jax.lax.reduce(
      _one_hot_products(used, vector), zeros,
      lambda xs, ys: tuple(x + y for x, y in zip(xs, ys)), (0,))


@_pick.defjvp
def _pick_jvp(used, primals, tangents):
  # The generic variadic reduce has no derivative; the map is linear, so the
  # tangents go through plain sums (differentiable, transposable).
  (vector,), (tangent,) = primals, tangents
  return _pick(used, vector), tuple(
      jnp.sum(x) for x in _one_hot_products(used, tangent))


def _scale_leaf(update, value, multipliers, scalars, layer_axis_name):
  if update is None or value is None:
    return update
  if isinstance(value, depth_lib.Stacked):
    local = update.shape[value.axis]
    m = multipliers[np.asarray(value.depths)]
    if local != len(value.depths):  # this device's block of the layers
      start = jax.lax.axis_index(layer_axis_name) * local
      m = jax.lax.dynamic_slice_in_dim(m, start, local)
    shape = [1] * update.ndim
    shape[value.axis] = local
    m = m.reshape(shape)
  else:
    m = scalars[value]
  return update * m.astype(update.dtype)


def scale_by_lerac(
    depths: Any,
    *,
    curriculum_steps: ArrayLike,
    schedule: str = "exponential",
    min_scale: ArrayLike = 1e-6,
    initial_ratios: str | Sequence[float] = "geometric",
    decay_factor: ArrayLike = 0.1,
    steps_per_event: ArrayLike | None = None,
    staircase_factor: ArrayLike = 10.0,
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

  The state is a single int32 step count; the per-leaf multipliers are derived
  from static depths and the count, so the state shards, checkpoints and
  ``pmap``\ s like any scalar.

  Args:
    depths: which depth each parameter has: a :class:`lerac_jax.Depths` (from
      :func:`lerac_jax.depths_from_model` or
      :func:`lerac_jax.depths_from_rules`), a tree of ints (or a prefix of the
      params tree), a mapping from path strings, or a callable from params to
      one of those that depends only on the tree structure.
    curriculum_steps: ``k``, in optimizer steps (with ``optax.MultiSteps``,
      real updates, not micro-batches); > 0.
    schedule: ``'exponential'`` (default), ``'linear'``, ``'log'``,
      ``'cosine'`` or ``'staircase'`` (see :mod:`lerac_jax.schedules`).
    min_scale: ``eta_n(0) / eta0``, the deepest initial ratio, in (0, 1];
      default 1e-6 (the paper uses 5 to 7 orders of magnitude).
    initial_ratios: ``'geometric'`` (default, log-uniform from 1 to
      ``min_scale``), ``'decay'`` (``max(min_scale, decay_factor ** j)``, the
      official code's per-block rule) or an explicit non-increasing sequence.
    decay_factor: the per-depth factor for ``initial_ratios='decay'``.
    steps_per_event: staircase only: steps between x``c`` events; default
      spreads the events so the deepest depth reaches 1 at ``k``.
    staircase_factor: staircase only: ``c``, default 10.
    layer_axis_name: only for updates inside ``jax.shard_map`` where a
      stacked leaf's layer axis is sharded over this mesh axis: each device
      then holds a block of the slices and takes its block of the per-slice
      multipliers. Not needed under ``jit`` with ``NamedSharding``.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` object.

  Raises:
    ValueError: for invalid settings (when built) or a parameter tree that
      does not match ``depths`` (at ``init``, or at the first trace of
      ``update``).

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
  settings = dict(
      curriculum_steps=curriculum_steps,
      schedule=schedule,
      min_scale=min_scale,
      initial_ratios=initial_ratios,
      decay_factor=decay_factor,
      steps_per_event=steps_per_event,
      staircase_factor=staircase_factor,
  )
  if not callable(depths):
    depths = depth_lib.as_depths(depths)
  _validate_settings(depths, settings)

  def resolve(tree):
    return depth_lib.as_depths(depths, tree) if callable(depths) else depths

  def init_fn(params):
    if not _is_params_placeholder(params):
      depth_lib.match(resolve(params), params)  # fail early, before training
    return LeracState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    resolved = resolve(updates)
    values = depth_lib.match(resolved, updates,
                             sharded_layers=layer_axis_name is not None)
    curve = schedules.make_curve(resolved.num_depths, **settings)
    multipliers = curve(state.count)
    scalars = _depth_scalars(multipliers, values)
    leaves, treedef = jax.tree_util.tree_flatten(
        updates, is_leaf=depth_lib.is_masked_node
    )
    scaled = [
        leaf if depth_lib.is_masked_node(leaf)
        else _scale_leaf(leaf, value, multipliers, scalars, layer_axis_name)
        for leaf, value in zip(leaves, values)
    ]
    updates = jax.tree_util.tree_unflatten(treedef, scaled)
    return updates, LeracState(count=optax.safe_increment(state.count))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def lerac(
    optimizer: optax.GradientTransformation,
    depths: Any,
    *,
    curriculum_steps: ArrayLike,
    schedule: str = "exponential",
    min_scale: ArrayLike = 1e-6,
    initial_ratios: str | Sequence[float] = "geometric",
    decay_factor: ArrayLike = 0.1,
    steps_per_event: ArrayLike | None = None,
    staircase_factor: ArrayLike = 10.0,
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


def find_count(opt_state: Any) -> jax.Array:
  """The step count of the (first) :class:`LeracState` in an optimizer state.

  Also accepts a bare count. Works on ``nnx.Optimizer.opt_state`` (whose
  leaves are wrapped in variables) and inside ``inject_hyperparams`` states.

  Args:
    opt_state: an optimizer state containing a :class:`LeracState`, or a count.

  Returns:
    The count as an array.

  Raises:
    ValueError: if no :class:`LeracState` is found.
  """
  if isinstance(opt_state, LeracState):
    count = opt_state.count
  else:
    found = [
        x for x in jax.tree_util.tree_leaves(
            opt_state, is_leaf=lambda x: isinstance(x, LeracState))
        if isinstance(x, LeracState)
    ]
    if found:
      count = found[0].count
    elif isinstance(opt_state, (int, np.integer, np.ndarray, jax.Array)):
      count = opt_state
    else:
      raise ValueError(
          "No LeracState found in the optimizer state; was it built with "
          "lerac_jax.lerac or scale_by_lerac?"
      )
  if hasattr(count, "get_value"):  # an nnx.Optimizer state variable
    count = count.get_value()
  return jnp.asarray(count)


def current_scales(opt_state: Any, depths: Any, **kwargs: Any) -> jax.Array:
  """The per-depth multipliers the next update will use, for logging.

  Args:
    opt_state: an optimizer state containing a :class:`LeracState` (or a bare
      step count).
    depths: the depths given to :func:`scale_by_lerac` (anything it accepts
      except a callable; pass the :class:`lerac_jax.Depths` it returned then).
    **kwargs: the same keyword arguments as given to :func:`scale_by_lerac`.

  Returns:
    A float32 array of shape ``(num_depths,)``; multiply by the base learning
    rate to get each depth's learning rate. If the count has a leading
    replica axis (``pmap``), the result has it too.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> kw = dict(curriculum_steps=10, min_scale=1e-4)
    >>> depths = {'stem': 0, 'mid': 1, 'head': 2}
    >>> tx = lerac_jax.lerac(optax.sgd(0.1), depths, **kw)
    >>> state = tx.init({'stem': 1., 'mid': 1., 'head': 1.})
    >>> lerac_jax.current_scales(state, depths, **kw)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
  """
  resolved = depth_lib.as_depths(depths)
  curve = schedules.make_curve(resolved.num_depths, **kwargs)
  count = find_count(opt_state)
  if count.ndim:
    return jax.vmap(curve)(count.reshape(-1)).reshape(
        count.shape + (resolved.num_depths,))
  return curve(count)
