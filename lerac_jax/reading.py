# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Reading the per-depth multipliers out of an optimizer state, for logging."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from lerac_jax import engine

_STATE = engine.DepthScaleState.__name__


def _unwrap(value: Any) -> Any:
  if hasattr(value, "get_value"):  # an nnx.Optimizer state variable
    return value.get_value()
  return value


def _label(path: tuple[Any, ...]) -> str:
  """The Python expression that reaches a sub-state from ``opt_state``."""
  out = "opt_state"
  for key in path:
    if hasattr(key, "name") and hasattr(key, "tuple_name"):  # NamedTupleKey
      out += f".{key.name}"
    elif isinstance(key, jax.tree_util.GetAttrKey):
      out += f".{key.name}"
    elif isinstance(key, jax.tree_util.DictKey):
      out += f"[{key.key!r}]"
    elif isinstance(key, jax.tree_util.SequenceKey):
      out += f"[{key.idx}]"
    else:
      out += jax.tree_util.keystr((key,))
  return out


def _typed(state: engine.DepthScaleState) -> engine.DepthScaleState:
  scales = _unwrap(state.scales)
  return engine.DepthScaleState(
      count=jnp.asarray(_unwrap(state.count)),
      scales=None if scales is None else jnp.asarray(scales))


def find_states(opt_state: Any) -> dict[str, engine.DepthScaleState]:
  """Every :class:`DepthScaleState` in an optimizer state, by where it sits.

  Found with :func:`optax.tree_utils.tree_get_all_with_path`, so it looks
  inside ``optax.chain``, ``optax.partition``, ``optax.masked``,
  ``optax.MultiSteps``, ``optax.inject_hyperparams`` and
  ``nnx.Optimizer.opt_state`` (whose wrapped leaves are unwrapped here).

  Args:
    opt_state: an optimizer state.

  Returns:
    A dict from the expression that reaches each state (e.g.
    ``"opt_state[1]"``) to the state, its leaves as arrays; in the order of
    the tree. Empty if there is none.
  """
  found = optax.tree_utils.tree_get_all_with_path(opt_state, _STATE)
  return {_label(path): _typed(state) for path, state in found}


def find_state(opt_state: Any) -> engine.DepthScaleState:
  """The one :class:`DepthScaleState` in an optimizer state.

  Args:
    opt_state: an optimizer state that holds exactly one.

  Returns:
    The state, its leaves as arrays.

  Raises:
    ValueError: if there is none, or more than one (naming where each sits).
  """
  return _unique(find_states(opt_state), opt_state)[1]


def _unique(found: dict, opt_state: Any) -> tuple[str, engine.DepthScaleState]:
  """The one (label, state) of ``found``; refuses none and several."""
  if not found:
    raise ValueError(
        "No LeracState found (the DepthScaleState of scale_by_depth) in the "
        f"optimizer state, a {type(opt_state).__name__}; pass the state of "
        "an optimizer built with lerac_jax.lerac, scale_by_lerac, "
        "scale_by_depth or a family built on it. A "
        "checkpoint restored without a target holds plain dicts: restore "
        "into jax.eval_shape(tx.init, params). For a bare step count use "
        "lerac_jax.Curriculum(...).multipliers(step, num_depths=...).")
  if len(found) > 1:
    raise ValueError(
        f"The optimizer state holds {len(found)} per-depth scalings, at "
        f"{', '.join(found)}; which one is ambiguous, so none is picked. In "
        "a chain they multiply. Read all of them, labelled by where they "
        "sit, with lerac_jax.all_current_scales(opt_state), or pass the "
        f"sub-state, e.g. lerac_jax.current_scales({next(iter(found))}).")
  return next(iter(found.items()))


def find_count(opt_state: Any) -> jax.Array:
  """The step count of the one :class:`DepthScaleState` in a state.

  Args:
    opt_state: an optimizer state that holds exactly one.

  Returns:
    The count as an array.

  Raises:
    ValueError: as :func:`find_state`.
  """
  return find_state(opt_state).count


def _scales(state: engine.DepthScaleState, where: str) -> jax.Array:
  if state.scales is None:
    raise ValueError(
        f"The state at {where} holds no multipliers: it was built by hand "
        "from a count. Build it with tx.init, or compute the multipliers "
        "with lerac_jax.Curriculum(...).multipliers(count, num_depths=...).")
  return state.scales


def current_scales(opt_state: Any) -> jax.Array:
  r"""The per-depth multipliers the next update will use, read from the state.

  The state of :func:`lerac_jax.scale_by_depth` (and so of
  :func:`lerac_jax.scale_by_lerac`, :func:`lerac_jax.scale_by_layer_decay`,
  :func:`lerac_jax.scale_by_unfreezing`) holds the multipliers of its next
  update, written by ``init`` and by each ``update``: the learning rate of
  depth ``d`` is :math:`\eta(t) \cdot` ``current_scales(opt_state)[d]``.

  They are written with the settings in effect at that ``init`` or
  ``update``. A setting changed between two updates (a state restored into
  an optimizer built with other settings, or a hyperparameter set by hand in
  an ``optax.inject_hyperparams`` state) applies at the next update, which
  then writes the new multipliers: until then this read shows those of the
  old settings. :func:`refresh_scales` recomputes them at once.

  Args:
    opt_state: an optimizer state holding exactly one
      :class:`lerac_jax.DepthScaleState` (for several, e.g. one per
      ``optax.partition`` group or two in a chain, see
      :func:`all_current_scales`).

  Returns:
    A float32 array of shape ``(num_depths,)`` (with a leading replica axis
    under ``pmap``, as the state has).

  Raises:
    ValueError: if the state holds none, more than one (the message names
      where each sits and how to pick one), or a state built by hand without
      multipliers.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> tx = lerac_jax.lerac(optax.sgd(0.1), {'stem': 0, 'mid': 1, 'head': 2},
    ...                      curriculum_steps=10, min_scale=1e-4)
    >>> state = tx.init({'stem': 1., 'mid': 1., 'head': 1.})
    >>> lerac_jax.current_scales(state)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
  """
  return _scales(*_unique(find_states(opt_state), opt_state)[::-1])


def all_current_scales(opt_state: Any) -> dict[str, jax.Array]:
  r"""Every per-depth scaling's next multipliers, labelled by where it sits.

  For states with several :class:`lerac_jax.DepthScaleState`: one per
  ``optax.partition`` group, or two in one chain (their multipliers
  multiply: ``lerac(lerac(sgd))`` trains at the product).

  Args:
    opt_state: an optimizer state.

  Returns:
    A dict from the Python expression that reaches each state from
    ``opt_state`` to its ``(num_depths,)`` multipliers, in tree order.

  Raises:
    ValueError: if there is none, or one built by hand without multipliers.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> depths = {'a': 0, 'b': 1}
    >>> tx = optax.chain(optax.sgd(0.1),
    ...                  lerac_jax.scale_by_depth(depths, [0.5, 1.]),
    ...                  lerac_jax.scale_by_depth(depths, [1., 0.1]))
    >>> scales = lerac_jax.all_current_scales(tx.init({'a': 1., 'b': 1.}))
    >>> {k: v.tolist() for k, v in scales.items()}
    {'opt_state[1]': [0.5, 1.0], 'opt_state[2]': [1.0, 0.10000000149011612]}
  """
  found = find_states(opt_state)
  if not found:
    _unique(found, opt_state)  # raises, saying what to pass
  return {where: _scales(state, where) for where, state in found.items()}


def _map_states(fn: Any, tree: Any, *rest: Any) -> Any:
  """``fn`` on every :class:`DepthScaleState` of ``tree`` (and of ``rest``)."""
  is_state = lambda x: isinstance(x, engine.DepthScaleState)
  return jax.tree_util.tree_map(
      lambda x, *xs: fn(x, *xs) if is_state(x) else x, tree, *rest,
      is_leaf=is_state)


def refresh_scales(tx: Any, opt_state: Any, params: Any) -> Any:
  r"""``opt_state`` with each engine's multipliers recomputed by ``tx``.

  Use it after a setting changed between two updates, so that
  :func:`current_scales` shows what the next update will train with:

  * a state restored into an optimizer built with other settings;
  * a hyperparameter set by hand in an ``optax.inject_hyperparams`` state.

  It runs ``tx.update`` once, on zero updates and with each engine's count
  one step back, and keeps only the multipliers that update writes: the
  counts and every other part of ``opt_state`` are returned unchanged.
  Jit-safe. Inside ``optax.MultiSteps`` between two real updates the inner
  update does not run, so the multipliers stay as they are.

  Args:
    tx: the optimizer that will take the next update.
    opt_state: its state.
    params: the parameters (for ``tx.update``; their values do not matter).

  Returns:
    The state, its :class:`lerac_jax.DepthScaleState` multipliers those the
    next ``tx.update`` uses.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params, depths = {'a': jnp.ones(2), 'b': jnp.ones(2)}, {'a': 0, 'b': 1}
    >>> old = lerac_jax.lerac(optax.sgd(1.), depths, curriculum_steps=10,
    ...                       min_scale=1e-2)
    >>> new = lerac_jax.lerac(optax.sgd(1.), depths, curriculum_steps=20,
    ...                       min_scale=1e-4)
    >>> state = old.init(params)  # e.g. restored from a checkpoint
    >>> lerac_jax.current_scales(state).tolist()  # the old settings'
    [1.0, 0.009999999776482582]
    >>> state = lerac_jax.refresh_scales(new, state, params)
    >>> lerac_jax.current_scales(state).tolist()  # what new.update trains
    [1.0, 9.999999747378752e-05]
  """
  back = _map_states(lambda s: s._replace(count=s.count - 1), opt_state)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  _, updated = tx.update(zeros, back, params)
  return _map_states(lambda old, new: old._replace(scales=new.scales),
                     opt_state, updated)
