# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The engine: one multiplier per depth on an optimizer's updates.

:func:`scale_by_depth` multiplies each parameter's update by the multiplier of
its depth. Every per-depth rule of this library goes through it: the LeRaC
curriculum (:func:`lerac_jax.scale_by_lerac`), layer-wise learning-rate decay
(:func:`lerac_jax.scale_by_layer_decay`) and gradual unfreezing
(:func:`lerac_jax.scale_by_unfreezing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from typing import Any, NamedTuple, Protocol, Union, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerac_jax import depths as depth_lib
from lerac_jax.depths import matching

Curve = Callable[[jax.Array], jax.Array]


class DepthScaleState(NamedTuple):
  """State of :func:`scale_by_depth`.

  Attributes:
    count: the optimizer step count, int32, shape ``()``.
    scales: the per-depth multipliers the next update uses, float32, shape
      ``(num_depths,)``, written by ``init`` and by each ``update`` from the
      settings in effect then: what :func:`lerac_jax.current_scales` reads.
      ``update`` computes the multipliers it applies from ``count``; it only
      writes ``scales``. None only in a state built by hand from a count.
  """

  # A field named count shadows tuple.count, as in optax's states.
  count: jax.Array  # type: ignore[assignment]  # shape=(), dtype=jnp.int32
  scales: jax.Array | None = None  # shape=(num_depths,), dtype=jnp.float32


class Rule(Protocol):
  """Multipliers that depend on the number of depths (e.g. a Curriculum)."""

  def curve(self, num_depths: int) -> Curve:
    """The function from the step count to ``(num_depths,)`` multipliers."""


Multipliers = Union[Rule, Curve, Sequence[float], np.ndarray, jax.Array]


# ---------------------------------------------------------------------------
# The multipliers: a rule, a function of the count, or a static sequence.
# ---------------------------------------------------------------------------


def _static_curve(values: Any) -> Callable[[int], Curve]:
  """A sequence: the same at every step; checked when concrete.

  Under ``optax.inject_hyperparams`` the sequence is a hyperparameter,
  traced inside ``jit``: it cannot be checked there, and is used as given.
  """
  traced = isinstance(values, jax.core.Tracer)
  vector = values if traced else np.asarray(values, np.float64)
  if vector.ndim != 1 or vector.size == 0:
    raise ValueError(
        "multipliers must be one number per depth (a 1-D sequence) or a "
        f"function of the step count; got an array of shape {vector.shape}.")
  if not traced:
    bad = [i for i, m in enumerate(vector) if not (np.isfinite(m) and m >= 0)]
    if bad:
      raise ValueError(
          f"multipliers must be finite and >= 0; entries {bad} are "
          f"{vector[bad].tolist()}.")

  def build(num_depths):
    if len(vector) != num_depths:
      raise ValueError(
          f"multipliers has {len(vector)} entries but the depths object has "
          f"{num_depths} depths; give exactly one multiplier per depth.")
    constant = jnp.asarray(vector, jnp.float32)
    return lambda count: constant

  return build


def _as_builder(multipliers: Multipliers) -> Callable[[int], Curve]:
  """``num_depths -> curve`` for any form of ``multipliers``."""
  if hasattr(multipliers, "curve"):
    return multipliers.curve
  if callable(multipliers):
    return lambda num_depths: multipliers
  return _static_curve(multipliers)


def _checked(curve: Curve, num_depths: int) -> Curve:
  """The curve, cast to float32, with its shape checked at every trace."""

  def checked(count):
    m = jnp.asarray(curve(count))
    if m.shape != (num_depths,):
      raise ValueError(
          f"The multipliers function returned shape {m.shape} at a step "
          f"count; it must return one multiplier per depth, shape "
          f"({num_depths},).")
    return m.astype(jnp.float32)

  return checked


# ---------------------------------------------------------------------------
# One scalar per depth, and the multiply of one leaf.
# ---------------------------------------------------------------------------

PICK_CHUNK = 32
"""Depths per reduction in :func:`_depth_scalars` (compile cost ~ D * chunk)."""


def _depth_scalars(multipliers: jax.Array, values: Sequence[Any],
                   count: jax.Array) -> tuple[dict, jax.Array]:
  """One scalar per depth used by a plain (non-stacked) leaf, and the count.

  They come out of variadic reductions, not out of ``multipliers[d]``: XLA
  fuses a slice into every consumer, so same-shaped layers would get update
  kernels that differ only in the slice index and are compiled one by one (a
  24-layer MLP compiled 1.8x slower). A reduction is not fused into its
  consumers, so those kernels stay identical and are compiled once (see
  benchmarks/README.md).

  One variadic reduction over all ``D`` depths has ``D`` operands of length
  ``D``: ``D**2`` work for the compiler. So the depths go in blocks of
  :data:`PICK_CHUNK` consecutive ranks, one reduction per block over its
  segment of the vector: ``D * PICK_CHUNK`` work, ``ceil(D / PICK_CHUNK)``
  extra kernels. Each scalar is a sum of exact zeros and the one multiplier,
  so the values are bit-identical. The next step count rides along in the
  first reduction, so that it needs no kernel of its own.

  Returns:
    ``({depth: scalar}, count + 1)``, the count saturating at int32's max.
  """
  # optax annotates any number; an Array in gives an Array out.
  next_count = cast(jax.Array, optax.safe_increment(count))
  used = sorted({v for v in values if isinstance(v, int)})
  if not used:
    return {}, next_count
  size = multipliers.shape[0]
  picked: dict[int, jax.Array] = {}
  for block in sorted({d // PICK_CHUNK for d in used}):
    lo, hi = block * PICK_CHUNK, min(size, (block + 1) * PICK_CHUNK)
    segment = multipliers if (lo, hi) == (0, size) else multipliers[lo:hi]
    ranks = tuple(d for d in used if lo <= d < hi)
    scalars: Sequence[jax.Array]
    if not picked:
      *scalars, next_count = _pick(tuple(d - lo for d in ranks), segment,
                                   next_count)
    else:
      scalars = _pick(tuple(d - lo for d in ranks), segment)
    picked.update(zip(ranks, scalars))
  return picked, next_count


def _one_hot_products(used, vector):
  """``where(index == d, vector, 0)`` per entry of ``used``.

  An entry is a depth (a scalar comes out of the reduction) or a tuple of
  depths, one per slice of a stacked leaf (a row comes out: the operand is
  ``vector`` broadcast to ``(D, slices)`` and the reduction runs over ``D``).
  """
  # iota, not rows of np.eye: no D x D constant in the HLO for D depths.
  zero = jnp.zeros((), vector.dtype)
  products = []
  for d in used:
    d = np.asarray(d, np.int32)
    shape = vector.shape[:1] + d.shape
    index = jax.lax.broadcasted_iota(jnp.int32, shape, 0)
    column = vector.reshape(shape[:1] + (1,) * d.ndim)
    products.append(jnp.where(index == d, column, zero))
  return tuple(products)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _pick(used: tuple[Any, ...], vector: jax.Array,
          carry: jax.Array | None = None) -> tuple[jax.Array, ...]:
  """``tuple(vector[np.asarray(d)] for d in used)`` (then ``carry``) as one
  variadic ``reduce``; the entries of ``used`` are all depths or all tuples
  of depths of one length."""
  operands = _one_hot_products(used, vector)
  inits = tuple(np.zeros((), vector.dtype) for _ in used)
  if carry is not None:  # an int32 scalar passed through the same kernel
    first = jax.lax.iota(jnp.int32, vector.shape[0]) == 0
    operands += (jnp.where(first, carry, jnp.zeros((), carry.dtype)),)
    inits += (np.zeros((), carry.dtype),)
  return tuple(jax.lax.reduce(
      operands, inits, lambda xs, ys: tuple(x + y for x, y in zip(xs, ys)),
      (0,)))


@_pick.defjvp
def _pick_jvp(used, primals, tangents):
  # The generic variadic reduce has no derivative; the map is linear, so the
  # tangents go through plain sums (differentiable, transposable). The int
  # carry has no tangent (float0).
  vector, tangent = primals[0], tangents[0]
  out = _pick(used, *primals)
  dots = tuple(jnp.sum(x, axis=0) for x in _one_hot_products(used, tangent))
  if len(primals) > 1 and primals[1] is not None:
    dots += (np.zeros((), jax.dtypes.float0),)
  return out, dots


ROW_PICK_MAX_ELEMENTS = 1 << 20
"""Largest ``depths x slices x tuples`` picked by one reduction in
:func:`_stacked_rows`; past it each tuple is gathered (a kernel each)."""


def _stacked_rows(multipliers: jax.Array, values: Sequence[Any]) -> dict:
  """``{depths: multipliers[depths]}`` for the stacked leaves' depth tuples.

  The tuples of one slice count come out of one variadic reduction, not one
  gather each: a gather is a kernel per tuple (five on a small scanned
  Transformer). The reduction reads ``D x slices`` values per tuple, so a
  scan too long for :data:`ROW_PICK_MAX_ELEMENTS` keeps the gathers.
  """
  patterns = sorted({v.depths for v in values
                     if isinstance(v, depth_lib.Stacked)})
  rows: dict[tuple[int, ...], jax.Array] = {}
  for length in sorted({len(p) for p in patterns}):
    group = tuple(p for p in patterns if len(p) == length)
    if multipliers.shape[0] * length * len(group) <= ROW_PICK_MAX_ELEMENTS:
      rows.update(zip(group, _pick(group, multipliers)))
    else:
      rows.update((p, multipliers[np.asarray(p)]) for p in group)
  return rows


def _slice_multipliers(path, update, value, rows, layer_axis_name):
  """The per-slice multipliers of a stacked leaf, shaped to broadcast."""
  path = depth_lib.path_to_str(path)
  local = update.shape[value.axis]
  m = rows[value.depths]
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


def _scale_leaf(path, update, value, rows, scalars, layer_axis_name):
  """``update * m`` in at least float32, cast back to the update's dtype."""
  if update is None or value is None:
    return update
  if not jnp.issubdtype(update.dtype, jnp.inexact):
    return update  # an int or bool leaf (a step counter): not a weight
  if isinstance(value, depth_lib.Stacked):
    m = _slice_multipliers(path, update, value, rows, layer_axis_name)
  else:
    m = scalars[value]
  # float16 / bfloat16 multiply in float32: 1e-8 * 3000 is 3e-5, not 0.
  compute = jnp.promote_types(update.dtype, jnp.float32)
  if compute == update.dtype:  # float32 and wider: one multiply, as always
    return update * m.astype(compute)
  return (update.astype(compute) * m.astype(compute)).astype(update.dtype)


def scale_tree(updates: Any, values: Sequence[Any], multipliers: jax.Array,
               count: jax.Array, layer_axis_name: str | None = None
               ) -> tuple[Any, jax.Array]:
  """Multiplies each leaf of ``updates`` by the multiplier of its depth.

  Args:
    updates: a parameter-shaped tree.
    values: the depth of each leaf, as :func:`lerac_jax.depths.match` gives.
    multipliers: float32, shape ``(num_depths,)``.
    count: the int32 step count.
    layer_axis_name: see :func:`scale_by_depth`.

  Returns:
    The scaled tree (MaskedNode, None and integer leaves unchanged), and the
    next step count.
  """
  scalars, next_count = _depth_scalars(multipliers, values, count)
  rows = _stacked_rows(multipliers, values)
  flat, treedef = jax.tree_util.tree_flatten_with_path(
      updates, is_leaf=depth_lib.is_masked_node)
  scaled = [
      leaf if depth_lib.is_masked_node(leaf)
      else _scale_leaf(path, leaf, value, rows, scalars, layer_axis_name)
      for (path, leaf), value in zip(flat, values)
  ]
  return jax.tree_util.tree_unflatten(treedef, scaled), next_count


# ---------------------------------------------------------------------------
# Resolving the depths, with errors that say what went wrong.
# ---------------------------------------------------------------------------


def _is_params_placeholder(params: Any) -> bool:
  # optax.tree.map_params calls init with a placeholder instead of params.
  return type(params).__name__ == "_ParamsPlaceholder"


def _same_depths(a: depth_lib.Depths, b: depth_lib.Depths) -> bool:
  return a.num_depths == b.num_depths and dict(a.table) == dict(b.table)


def _tree_paths(tree: Any) -> tuple[str, ...]:
  return tuple(path for path, _ in depth_lib.flatten_with_names(tree))


def _looks_flattened(tree: Any) -> bool:
  """A single unnamed vector: the updates inside ``optax.flatten``."""
  leaves = jax.tree_util.tree_leaves(tree, is_leaf=depth_lib.is_masked_node)
  return (_tree_paths(tree) == ("",) and len(leaves) == 1
          and getattr(leaves[0], "ndim", None) == 1)


def _match(resolved: depth_lib.Depths, tree: Any, sharded_layers: bool):
  """:func:`lerac_jax.depths.match`, naming ``optax.flatten`` when it is it."""
  try:
    return depth_lib.match(resolved, tree, sharded_layers=sharded_layers)
  except ValueError as e:
    if not _looks_flattened(tree) or "" in resolved.table:
      raise
    raise ValueError(
        f"{e} The tree is a single flat vector, as inside optax.flatten: "
        "optax.flatten ravels the parameters into one vector, so their names "
        "(and depths) are gone. Put the per-depth scaling outside it, e.g. "
        "optax.chain(optax.flatten(optax.adam(1e-3)), "
        "lerac_jax.scale_by_lerac(depths, ...)).") from e


class _Resolver:
  """The depths of the tree, checked against the first resolution."""

  def __init__(self, depths: Any, check_num_depths: Callable[[int], None]):
    if isinstance(depths, jax.Array):
      # What optax.inject_hyperparams passes when it took a callable depths
      # specification for a schedule and called it with the step count.
      raise TypeError(
          f"depths is a {depths.dtype} array of shape {depths.shape}, not a "
          "depths specification. Under optax.inject_hyperparams a callable "
          "depths specification is taken for a schedule and called with the "
          "step count: mark it static, e.g. optax.inject_hyperparams("
          "lerac_jax.scale_by_lerac, static_args=('depths',))(fn, ...), or "
          "build the depths first: depths = lerac_jax.as_depths(fn, params).")
    self.spec = depths
    self.check_num_depths = check_num_depths
    # (Depths, tree paths, where) of the first resolution.
    self.first: tuple[depth_lib.Depths, tuple[str, ...], str] | None = None
    self.fixed: depth_lib.Depths | None
    if not callable(depths):
      self.fixed = depth_lib.as_depths(depths)
      check_num_depths(self.fixed.num_depths)
    else:
      self.fixed = None

  def placeholder_num_depths(self) -> int:
    return 1 if self.fixed is None else self.fixed.num_depths

  def __call__(self, tree: Any, where: str) -> depth_lib.Depths:
    if self.fixed is not None:
      return self.fixed
    resolved = depth_lib.as_depths(self.spec, tree)
    paths = _tree_paths(tree)
    if self.first is None:
      self.check_num_depths(resolved.num_depths)
      self.first = (resolved, paths, where)
    elif not _same_depths(self.first[0], resolved):
      self._refuse(resolved, paths, where)
    return resolved

  def _refuse(self, resolved, paths, where):
    first, first_paths, first_where = self.first
    if paths != first_paths:
      new = sorted(set(paths) - set(first_paths))
      gone = sorted(set(first_paths) - set(paths))
      raise ValueError(
          f"This transformation was initialised {first_where} on a tree of "
          f"{len(first_paths)} leaves, and {where} gets another tree of "
          f"{len(paths)} leaves (new: {matching.summarise(new)}; missing: "
          f"{matching.summarise(gone)}). One transformation serves one model: "
          "build a separate optimizer for the second model (the callable "
          "depths specification can be reused).")
    raise ValueError(
        f"The callable depths specification gave {first.num_depths} "
        f"depths ({len(first.table)} entries) {first_where} but "
        f"{resolved.num_depths} depths ({len(resolved.table)} entries) "
        f"{where}. It must depend only on the tree structure, like "
        "optax.masked's mask function, not on the values (which are "
        "tracers under jit). Build the depths once instead: "
        "depths = lerac_jax.as_depths(fn, params).")


# ---------------------------------------------------------------------------
# The transformation.
# ---------------------------------------------------------------------------


def scale_by_depth(
    depths: Any,
    multipliers: Multipliers,
    *,
    layer_axis_name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Scales each parameter's update by the multiplier of its depth.

  A parameter at depth :math:`d` gets

  .. math::
    u \leftarrow m_d(t)\, u,

  with :math:`t` the step count. Placed **after** the optimizer (as the last
  element of an ``optax.chain``), this is the same as giving depth :math:`d`
  the learning rate :math:`\eta(t)\, m_d(t)`, the way PyTorch param groups
  do, for SGD (momentum, weight decay), Adam and AdamW alike. Two of them in
  one chain multiply: depth :math:`d` gets :math:`m_d(t)\, m'_d(t)`.

  The state is the int32 step count and the ``(num_depths,)`` float32
  multipliers of the next update (nothing per parameter), read by
  :func:`lerac_jax.current_scales`. float16 and bfloat16 updates are
  multiplied in float32 and keep their dtype; integer and bool leaves and
  ``optax.MaskedNode`` leaves pass through unchanged. Stacked (scanned)
  leaves, :class:`lerac_jax.Stacked`, get one multiplier per slice.

  Args:
    depths: which depth each parameter has: a :class:`lerac_jax.Depths` (from
      :func:`lerac_jax.depths_from_model` or
      :func:`lerac_jax.depths_from_rules`), a tree of ints (or a prefix of the
      params tree), a mapping from path strings, or a callable from params to
      one of those that depends only on the tree structure.
    multipliers: one of

      * a sequence of ``num_depths`` numbers, finite and >= 0 (under
        ``optax.inject_hyperparams`` a hyperparameter, changeable at run
        time);
      * a jit-traceable function from the int32 step count to a
        ``(num_depths,)`` array;
      * a rule whose ``curve(num_depths)`` gives such a function, for
        multipliers that depend on the number of depths
        (:class:`lerac_jax.Curriculum`, :class:`lerac_jax.LayerDecay`,
        :class:`lerac_jax.Unfreezing`).
    layer_axis_name: only for updates inside ``jax.shard_map`` where a
      stacked leaf's layer axis is sharded over this mesh axis: each device
      then holds a block of the slices and takes its block of the per-slice
      multipliers. Not needed under ``jit`` with ``NamedSharding``.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` whose state is a
    :class:`DepthScaleState`.

  Raises:
    ValueError: for static multipliers that are not finite and >= 0 or not
      one per depth; a parameter tree that does not match ``depths`` (at
      ``init``, or at the first trace of ``update``); a callable ``depths``
      whose result changes between init and a trace; a function of the count
      that returns the wrong shape.
    TypeError: if ``update`` gets a state that is not a
      :class:`DepthScaleState`, or ``layer_axis_name`` is not a str.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params = {'stem': jnp.ones(2), 'head': jnp.ones(2)}
    >>> tx = optax.chain(
    ...     optax.sgd(0.1),
    ...     lerac_jax.scale_by_depth({'stem': 0, 'head': 1}, [0.5, 1.0]))
    >>> updates, state = tx.update(params, tx.init(params))
    >>> updates['stem'].tolist(), updates['head'].tolist()  # doctest: +ELLIPSIS
    ([-0.05..., -0.05...], [-0.1..., -0.1...])

  References:
    Howard and Ruder, `Universal Language Model Fine-tuning for Text
    Classification <https://arxiv.org/abs/1801.06146>`_, ACL 2018
    (discriminative fine-tuning: one learning rate per layer).
  """
  if layer_axis_name is not None and not isinstance(layer_axis_name, str):
    raise TypeError(
        f"layer_axis_name must be a mesh axis name (a str) or None; got "
        f"{layer_axis_name!r}.")
  build = _as_builder(multipliers)
  # A rule may refuse, or warn about, a depth count it does not fit.
  check_num_depths = getattr(multipliers, "check_num_depths",
                             lambda num_depths: None)
  resolve = _Resolver(depths, check_num_depths)

  def curve_for(num_depths):
    return _checked(build(num_depths), num_depths)

  def init_fn(params):
    count = jnp.zeros([], jnp.int32)
    if _is_params_placeholder(params):  # only the state's structure matters
      return DepthScaleState(count=count, scales=jnp.ones(
          [resolve.placeholder_num_depths()], jnp.float32))
    resolved = resolve(params, "at init")
    _match(resolved, params, sharded_layers=False)  # fail early
    return DepthScaleState(count=count,
                           scales=curve_for(resolved.num_depths)(count))

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    if not isinstance(state, DepthScaleState):
      raise TypeError(
          "scale_by_depth's update (scale_by_lerac, scale_by_layer_decay, "
          "scale_by_unfreezing) needs the DepthScaleState (LeracState) its "
          f"init returned; got a {type(state).__name__}. With lerac(...) or "
          "optax.chain the state is a tuple: pass all of it to the chain's "
          "update. A state restored without a target is a dict: restore into "
          "jax.eval_shape(tx.init, params) instead.")
    resolved = resolve(updates, "at a trace of update")
    values = _match(resolved, updates,
                    sharded_layers=layer_axis_name is not None)
    curve = curve_for(resolved.num_depths)
    updates, count = scale_tree(updates, values, curve(state.count),
                                state.count, layer_axis_name)
    return updates, DepthScaleState(count=count, scales=curve(count))

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
