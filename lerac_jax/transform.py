# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""LeRaC as an Optax gradient transformation."""

from __future__ import annotations

from collections.abc import Sequence
import functools
from typing import Any, NamedTuple
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerac_jax import depths as depth_lib
from lerac_jax import schedules
from lerac_jax import settings as settings_lib

ArrayLike = schedules.ArrayLike


class LeracState(NamedTuple):
  """State of :func:`scale_by_lerac`.

  Attributes:
    count: the optimizer step count, int32, shape ``()``.
    scales: the per-depth multipliers the next update uses, float32, shape
      ``(num_depths,)``: what :func:`current_scales` logs. None only in a state
      built by hand from a count; ``update`` never reads it (the multipliers
      are computed from ``count``), it only writes it. To move a state to
      another count by hand (e.g. to keep the curriculum position with a new
      model), set both: ``state._replace(count=c, scales=
      lerac_jax.Curriculum(...).multipliers(c, num_depths=n))``; with only the
      count replaced, :func:`current_scales` shows the old count's
      multipliers until the next update overwrites them.
  """

  # The field shadows tuple.count, as in optax's states.
  count: jax.Array  # type: ignore[assignment]  # shape=(), int32
  scales: jax.Array | None = None  # shape=(num_depths,), dtype=jnp.float32


def _is_params_placeholder(params: Any) -> bool:
  # optax.tree.map_params calls init with a placeholder instead of params.
  return type(params).__name__ == "_ParamsPlaceholder"


def _same_depths(a: depth_lib.Depths, b: depth_lib.Depths) -> bool:
  return a.num_depths == b.num_depths and dict(a.table) == dict(b.table)


PICK_CHUNK = 32
"""Depths per reduction in :func:`_depth_scalars` (compile cost ~ D * chunk)."""


def _depth_scalars(multipliers: jax.Array, values: Sequence[Any]) -> dict:
  """One scalar per depth used by a plain (non-stacked) leaf.

  They come out of variadic reductions, not out of ``multipliers[d]``: XLA
  fuses a slice into every consumer, so same-shaped layers would get update
  kernels that differ only in the slice index and are compiled one by one (a
  24-layer MLP compiled 1.8x slower than without LeRaC). A reduction is not
  fused into its consumers, so those kernels stay identical and are compiled
  once (see benchmarks/README.md).

  One variadic reduction over all ``D`` depths has ``D`` operands of length
  ``D``: ``D**2`` work for the compiler, 2x plain Adam's compile time at 1000
  depths. So the depths go in blocks of :data:`PICK_CHUNK` consecutive ranks,
  one reduction per block over its ``PICK_CHUNK``-long segment of the
  vector: ``D * PICK_CHUNK`` work, ``ceil(D / PICK_CHUNK)`` extra kernels (a
  single one up to 32 depths). Each scalar is still a sum of exact zeros and
  the one multiplier, so the values are bit-identical.
  """
  used = sorted({v for v in values if isinstance(v, int)})
  if not used:
    return {}
  size = multipliers.shape[0]
  picked: dict[int, jax.Array] = {}
  for block in sorted({d // PICK_CHUNK for d in used}):
    lo, hi = block * PICK_CHUNK, min(size, (block + 1) * PICK_CHUNK)
    segment = multipliers if (lo, hi) == (0, size) else multipliers[lo:hi]
    ranks = tuple(d for d in used if lo <= d < hi)
    picked.update(zip(ranks, _pick(tuple(d - lo for d in ranks), segment)))
  return picked


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


def _slice_multipliers(path, update, value, multipliers, layer_axis_name):
  """The per-slice multipliers of a stacked leaf, shaped to broadcast."""
  path = depth_lib.path_to_str(path)
  local = update.shape[value.axis]
  m = multipliers[np.asarray(value.depths)]
  if local != len(value.depths):  # this device's block of the layers
    try:
      axis_size = jax.lax.axis_size(layer_axis_name)
    except NameError as e:
      raise ValueError(
          f"{path!r} holds {local} of its {len(value.depths)} slices, but "
          f"layer_axis_name={layer_axis_name!r} is not a mapped axis here; "
          "call update inside jax.shard_map over that mesh axis.") from e
    if local * axis_size != len(value.depths):
      raise ValueError(
          f"{path!r} holds {local} slices on each of the {axis_size} devices "
          f"of mesh axis {layer_axis_name!r} ({local * axis_size} in all), "
          f"but its depths entry has {len(value.depths)} per-slice depths: the "
          "depths object was built for another model or another sharding. "
          "Rebuild it for this model.")
    start = jax.lax.axis_index(layer_axis_name) * local
    m = jax.lax.dynamic_slice_in_dim(m, start, local)
  shape = [1] * update.ndim
  shape[value.axis] = local
  return m.reshape(shape)


def _scale_leaf(path, update, value, multipliers, scalars, layer_axis_name):
  """``update * m`` in at least float32, cast back to the update's dtype."""
  if update is None or value is None:
    return update
  if not jnp.issubdtype(update.dtype, jnp.inexact):
    return update  # an int or bool leaf (a step counter): not a weight
  if isinstance(value, depth_lib.Stacked):
    m = _slice_multipliers(path, update, value, multipliers, layer_axis_name)
  else:
    m = scalars[value]
  # float16 / bfloat16 multiply in float32: 1e-8 * 3000 is 3e-5, not 0.
  compute = jnp.promote_types(update.dtype, jnp.float32)
  if compute == update.dtype:  # float32 and wider: one multiply, as always
    return update * m.astype(compute)
  return (update.astype(compute) * m.astype(compute)).astype(update.dtype)


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

  The settings are validated once, as a :class:`lerac_jax.Curriculum` (see
  there for what is refused, and how traced settings are clamped). The state
  is the int32 step count and the ``(num_depths,)`` float32 multipliers of the
  next update (``4 * (num_depths + 1)`` bytes, nothing per parameter), so
  :func:`current_scales` logs exactly what trains. The multipliers applied
  are always computed from the count. float16 and bfloat16 updates are
  multiplied in float32 and keep their dtype; integer and bool leaves pass
  through unchanged.

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
    TypeError: if ``update`` gets a state that is not a :class:`LeracState`.

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
  if layer_axis_name is not None and not isinstance(layer_axis_name, str):
    raise TypeError(
        f"layer_axis_name must be a mesh axis name (a str) or None; got "
        f"{layer_axis_name!r}.")
  if not callable(depths):
    depths = depth_lib.as_depths(depths)
    curriculum.check_num_depths(depths.num_depths)
  seen: list[Any] = []  # a callable spec's first result, to check every later one

  def resolve(tree, where):
    if not callable(depths):
      return depths
    resolved = depth_lib.as_depths(depths, tree)
    if not seen:
      curriculum.check_num_depths(resolved.num_depths)
      seen.append((resolved, where))
    elif not _same_depths(seen[0][0], resolved):
      first, first_where = seen[0]
      raise ValueError(
          f"The callable depths specification gave {first.num_depths} "
          f"depths ({len(first.table)} entries) {first_where} but "
          f"{resolved.num_depths} depths ({len(resolved.table)} entries) "
          f"{where}. It must depend only on the tree structure, like "
          "optax.masked's mask function, not on the values (which are "
          "tracers under jit). Build the depths once instead: "
          "depths = lerac_jax.as_depths(fn, params).")
    return resolved

  def init_fn(params):
    count = jnp.zeros([], jnp.int32)
    if _is_params_placeholder(params):  # only the state's structure matters
      num_depths = 1 if callable(depths) else depths.num_depths
      return LeracState(count=count, scales=jnp.ones([num_depths], jnp.float32))
    resolved = resolve(params, "at init")
    depth_lib.match(resolved, params)  # fail early, before training
    return LeracState(count=count,
                      scales=curriculum.curve(resolved.num_depths)(count))

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    if not isinstance(state, LeracState):
      raise TypeError(
          "scale_by_lerac's update needs the LeracState its init returned; "
          f"got a {type(state).__name__}. With lerac(...) or optax.chain the "
          "state is a tuple: pass all of it to the chain's update. A state "
          "restored without a target is a dict: restore into "
          "jax.eval_shape(tx.init, params) instead.")
    resolved = resolve(updates, "at a trace of update")
    values = depth_lib.match(resolved, updates,
                             sharded_layers=layer_axis_name is not None)
    curve = curriculum.curve(resolved.num_depths)
    multipliers = curve(state.count)
    scalars = _depth_scalars(multipliers, values)
    flat, treedef = jax.tree_util.tree_flatten_with_path(
        updates, is_leaf=depth_lib.is_masked_node)
    scaled = [
        leaf if depth_lib.is_masked_node(leaf)
        else _scale_leaf(path, leaf, value, multipliers, scalars,
                         layer_axis_name)
        for (path, leaf), value in zip(flat, values)
    ]
    updates = jax.tree_util.tree_unflatten(treedef, scaled)
    count = optax.safe_increment(state.count)
    return updates, LeracState(count=count, scales=curve(count))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


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


def _unwrap(value: Any) -> Any:
  if hasattr(value, "get_value"):  # an nnx.Optimizer state variable
    return value.get_value()
  return value


def find_state(opt_state: Any) -> LeracState:
  """The (first) :class:`LeracState` in an optimizer state.

  Works on the states of :func:`lerac`, ``optax.chain``,
  ``optax.inject_hyperparams``, ``optax.MultiSteps``, ``optax.masked`` and on
  ``nnx.Optimizer.opt_state`` (whose leaves are wrapped in variables; they are
  unwrapped here).

  Args:
    opt_state: an optimizer state that contains a :class:`LeracState`.

  Returns:
    The :class:`LeracState`, its leaves as arrays.

  Raises:
    ValueError: if there is no :class:`LeracState` in ``opt_state``.
  """
  if not isinstance(opt_state, LeracState):
    found = [
        x for x in jax.tree_util.tree_leaves(
            opt_state, is_leaf=lambda x: isinstance(x, LeracState))
        if isinstance(x, LeracState)
    ]
    if not found:
      raise ValueError(
          "No LeracState found in the optimizer state (got a "
          f"{type(opt_state).__name__}); pass the state of an optimizer built "
          "with lerac_jax.lerac or scale_by_lerac. A checkpoint restored "
          "without a target holds plain dicts: restore into "
          "jax.eval_shape(tx.init, params). For a bare step count use "
          "lerac_jax.Curriculum(...).multipliers(step, num_depths=...).")
    opt_state = found[0]
  scales = _unwrap(opt_state.scales)
  return LeracState(count=jnp.asarray(_unwrap(opt_state.count)),
                    scales=None if scales is None else jnp.asarray(scales))


def find_count(opt_state: Any) -> jax.Array:
  """The step count of the (first) :class:`LeracState` in an optimizer state.

  Args:
    opt_state: an optimizer state containing a :class:`LeracState`.

  Returns:
    The count as an array.

  Raises:
    ValueError: if no :class:`LeracState` is found.
  """
  return find_state(opt_state).count


def _check_retyped(state: LeracState, depths: Any, settings: dict) -> None:
  """Checks settings given to :func:`current_scales` against the state."""
  if isinstance(depths, (int, np.integer)) and not isinstance(depths, bool):
    raise TypeError(
        f"current_scales(opt_state, {depths!r}) is ambiguous: an int depths "
        "spec is a single depth, not a number of depths. Call "
        "current_scales(opt_state) alone: the state holds the multipliers.")
  settings = {k: v for k, v in settings.items() if k != "layer_axis_name"}
  num_depths = depth_lib.as_depths(depths).num_depths
  want = settings_lib.Curriculum(**settings).multipliers(
      state.count, num_depths=num_depths)
  if state.scales is None:
    return
  got = state.scales
  if any(isinstance(x, jax.core.Tracer) for x in (got, want)):
    return
  if got.shape != want.shape or not np.allclose(
      np.asarray(got), np.asarray(want), rtol=1e-5, atol=0):
    raise ValueError(
        "The depths and settings passed to current_scales disagree with the "
        "ones the optimizer was built with: they give "
        f"{np.asarray(want).tolist()} but the state's multipliers are "
        f"{np.asarray(got).tolist()}. Call current_scales(opt_state) alone; "
        "it reads the multipliers from the state.")


def current_scales(opt_state: Any, depths: Any = None,
                   **settings: Any) -> jax.Array:
  """The per-depth multipliers the next update will use, read from the state.

  The state of :func:`scale_by_lerac` holds the multipliers its next update
  uses, written by ``init`` and by each ``update``, so what is logged is what
  trains; no settings are needed. The learning rate of depth ``j`` is
  ``eta0(t) * current_scales(opt_state)[j]``.

  Args:
    opt_state: an optimizer state containing a :class:`LeracState`.
    depths: deprecated, only checked: the depths given to
      :func:`scale_by_lerac`.
    **settings: deprecated, only checked: the keyword arguments given to
      :func:`scale_by_lerac`. When concrete, they must give the state's
      multipliers (else ValueError); they are needed only for a state built
      by hand from a count.

  Returns:
    A float32 array of shape ``(num_depths,)`` (with a leading replica axis
    under ``pmap``, as the state has).

  Raises:
    ValueError: if there is no :class:`LeracState` in ``opt_state``, or the
      checked settings disagree with the state.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> tx = lerac_jax.lerac(optax.sgd(0.1), {'stem': 0, 'mid': 1, 'head': 2},
    ...                      curriculum_steps=10, min_scale=1e-4)
    >>> state = tx.init({'stem': 1., 'mid': 1., 'head': 1.})
    >>> lerac_jax.current_scales(state)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
  """
  state = find_state(opt_state)
  if depths is None and not settings:
    if state.scales is None:
      raise ValueError(
          "This LeracState holds no multipliers: it was built by hand from a "
          "count. Build it with tx.init, or compute the multipliers with "
          "lerac_jax.Curriculum(...).multipliers(count, num_depths=...).")
    return state.scales
  warnings.warn(
      "current_scales reads the multipliers from the optimizer state; the "
      "depths and settings arguments are only checked and will be removed. "
      "Call current_scales(opt_state).", DeprecationWarning, stacklevel=2)
  if depths is None:
    raise TypeError("current_scales got settings but no depths to check.")
  _check_retyped(state, depths, settings)
  if state.scales is None:  # a hand-built state: the checked settings decide
    return settings_lib.Curriculum(**{
        k: v for k, v in settings.items() if k != "layer_axis_name"
    }).multipliers(state.count, num_depths=depth_lib.as_depths(
        depths).num_depths)
  return state.scales
