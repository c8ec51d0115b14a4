# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""``depths_from_model``: the dataflow rule for Flax linen, Flax NNX, Equinox.

Each front end turns a model into ``fn(params, fixed, *args)`` and hands it
to :func:`lerac_jax.depths.dataflow.discover`: linen traces the ``params``
collection and keeps the other collections fixed; NNX splits the module into
its ``nnx.Param`` state and the rest (``nnx.bridge`` wrappers included);
Equinox partitions the module into its floating-point arrays and the rest.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from lerac_jax.depths import dataflow
from lerac_jax.depths import types


def _check_group(group: str, block_level: int | None) -> None:
  if group not in ("layer", "block"):
    raise ValueError(f"group must be 'layer' or 'block'; got {group!r}.")
  if block_level is not None and (
      isinstance(block_level, bool) or not isinstance(block_level, int)
      or block_level < 1):
    raise ValueError(
        f"block_level must be None or an int >= 1; got {block_level!r}.")


def _is_array(x) -> bool:
  return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _call(module, method, args, kwargs):
  """``module(*args)``, or the named method, or ``method(module, *args)``."""
  if method is None:
    return module(*args, **kwargs)
  if isinstance(method, str):
    return getattr(module, method)(*args, **kwargs)
  return method(module, *args, **kwargs)


def _linen(model, args, kwargs, method, rngs):
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  # Module.init and Module.apply themselves: a model may override init
  # with another signature (a GPT's init(self, rng)); the parameter shapes
  # come from its setup or compact methods either way.
  init, apply = nn.Module.init, nn.Module.apply
  if rngs is None:
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  apply_rngs = ({k: v for k, v in rngs.items() if k != "params"}
                if isinstance(rngs, dict) else {"dropout": rngs})

  leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
  dynamic = [x for x in leaves if _is_array(x)]

  def init_flat(*dyn):
    it = iter(dyn)
    a, kw = jax.tree_util.tree_unflatten(
        treedef, [next(it) if _is_array(x) else x for x in leaves])
    return init(model, rngs, *a, method=method, **kw)

  try:
    variables = jax.eval_shape(init_flat, *dynamic)
  except TypeError as e:
    raise TypeError(
        f"depths_from_model could not initialise the linen model "
        f"{type(model).__name__} ({e}). Trace its forward function "
        "instead: lerac_jax.depths_from_fn(lambda p, *a: model.apply("
        "{'params': p, **other_collections}, *a), params, *sample_args), "
        "with params = variables['params'] from your own init.") from e
  variables = dict(variables)
  params = variables.pop("params", None)
  if not params:
    raise ValueError("The linen model has no 'params' collection to rank.")

  def fn(p, fixed, *a, **kw):
    return apply(model, {"params": p, **fixed}, *a, method=method,
                 mutable=True, rngs=apply_rngs, **kw)

  return fn, params, variables


def _nnx(model, method):
  from flax import nnx  # pylint: disable=g-import-not-at-top

  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def fn(p, fixed, *a, **kw):
    return _call(nnx.merge(graphdef, p, fixed), method, a, kw)

  return fn, params, rest


def _equinox(model, method):
  import equinox as eqx  # pylint: disable=g-import-not-at-top

  def is_param(x):
    return _is_array(x) and np.issubdtype(x.dtype, np.inexact)

  params, rest = eqx.partition(model, is_param)
  fixed, static = eqx.partition(rest, _is_array)

  def fn(p, f, *a, **kw):
    return _call(eqx.combine(p, f, static), method, a, kw)

  return fn, params, fixed


def _kind(model) -> str:
  try:
    import flax.linen as nn  # pylint: disable=g-import-not-at-top
    from flax import nnx  # pylint: disable=g-import-not-at-top
  except ImportError:  # pragma: no cover
    nn = nnx = None  # type: ignore[assignment]
  if nnx is not None and isinstance(model, nnx.Module):
    return "nnx"
  if nn is not None and isinstance(model, nn.Module):
    return "linen"
  try:
    import equinox as eqx  # pylint: disable=g-import-not-at-top
  except ImportError:  # pragma: no cover
    eqx = None  # type: ignore[assignment]
  if eqx is not None and isinstance(model, eqx.Module):
    return "equinox"
  raise TypeError(
      "depths_from_model expects a flax.linen.Module, flax.nnx.Module or "
      f"equinox.Module; got {type(model).__name__}. For a plain function use"
      " lerac_jax.depths_from_fn; otherwise depths_from_rules or give the "
      "depths by hand.")


def depths_from_model(
    model: Any,
    *sample_args: Any,
    group: str = "layer",
    block_level: int | None = None,
    stack_axis: int = 0,
    method: str | Callable[..., Any] | None = None,
    rngs: Any = None,
    **sample_kwargs: Any,
) -> types.Depths:
  r"""Depths of a model's parameters, from its dataflow graph.

  The forward pass is traced abstractly (nothing is allocated; the model may
  come from ``nnx.eval_shape`` and the inputs may be
  ``jax.ShapeDtypeStruct``) with the parameters and the data as separate
  inputs, and each parameter's depth is its distance from the data, as
  :func:`lerac_jax.depths_from_fn` defines it: a contraction of a parameter
  with data adds one level, parallel branches share a level, elementwise
  parameters (biases, norm scales of any class) join the layer whose output
  they touch, stacked (scanned) leaves get per-slice depths exactly as the
  same model written as a Python loop, and a vmapped ensemble is one depth.

  ``group='block'`` gives one depth per block: the modules at path length
  ``block_level``, a list index included (``layers/3``), one per slice of a
  scanned block. A block's level is that of its first contraction; a block
  of elementwise parameters only (a final norm) joins the layer it touches.

  Args:
    model: a ``flax.linen.Module`` (unbound), a ``flax.nnx.Module`` (an
      ``nnx.bridge.ToNNX`` wrapper included) or an ``equinox.Module``.
    *sample_args: example inputs (arrays or ``jax.ShapeDtypeStruct``; other
      Python values stay static).
    group: ``'layer'`` (default) or ``'block'``.
    block_level: path length of a block for ``group='block'``; None (the
      default) picks the shallowest one that splits the model into more than
      one depth (``decoder/block_3`` when everything sits under ``decoder``).
    stack_axis: the layer axis to prefer when a scanned leaf's shape leaves it
      ambiguous (e.g. 4 layers stacked onto a ``(4, 4)`` kernel).
    method: the method to call instead of ``__call__`` (a name, or for linen
      a function as in ``Module.apply``).
    rngs: linen only: PRNG key or dict of keys for ``init`` (and, without
      ``'params'``, for ``apply``); defaults to ``{'params': key(0),
      'dropout': key(1)}``.
    **sample_kwargs: keyword arguments for the forward pass, e.g.
      ``train=False``.

  Returns:
    A :class:`Depths` keyed by canonical parameter path, relative to the
    ``params`` collection (linen), ``nnx.state(model, nnx.Param)`` (NNX) or
    ``eqx.filter(model, eqx.is_inexact_array)`` (Equinox).

  Raises:
    TypeError: for a model of another kind.
    ValueError: for bad ``group``/``block_level``/``stack_axis`` settings, or
      a block level that collapses the model into one depth.

  Example:
    >>> import jax.numpy as jnp, flax.linen as nn, lerac_jax
    >>> class MLP(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     x = nn.Dense(8, name='stem')(x)
    ...     x = nn.LayerNorm(name='norm')(x)
    ...     q, k = nn.Dense(8, name='q')(x), nn.Dense(8, name='k')(x)
    ...     return nn.Dense(2, name='head')(q * k)
    >>> d = lerac_jax.depths_from_model(MLP(), jnp.ones((1, 4)))
    >>> {p: d.table[p] for p in ('stem/kernel', 'norm/scale', 'q/kernel',
    ...                          'k/kernel', 'head/kernel')}
    {'stem/kernel': 0, 'norm/scale': 0, 'q/kernel': 1, 'k/kernel': 1, 'head/kernel': 2}

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024.
  """
  _check_group(group, block_level)
  if isinstance(stack_axis, bool) or not isinstance(stack_axis, int):
    raise TypeError(f"stack_axis must be an int; got {stack_axis!r}.")
  kind = _kind(model)
  if kind != "linen" and rngs is not None:
    raise ValueError("rngs= applies to linen modules only; NNX and Equinox "
                     "modules hold their own RNG state.")
  if kind == "linen":
    with _rng_hint():
      fn, params, fixed = _linen(model, sample_args, sample_kwargs, method,
                                 rngs)
      return dataflow.discover(fn, params, fixed, sample_args, sample_kwargs,
                               group=group, block_level=block_level,
                               stack_axis=stack_axis)
  if kind == "nnx":
    fn, params, fixed = _nnx(model, method)
  else:
    fn, params, fixed = _equinox(model, method)
  return dataflow.discover(fn, params, fixed, sample_args, sample_kwargs,
                           group=group, block_level=block_level,
                           stack_axis=stack_axis)


@contextlib.contextmanager
def _rng_hint():
  """Flax's missing-RNG error, with the ``rngs=`` that would fix it."""
  from flax import errors  # pylint: disable=g-import-not-at-top

  try:
    yield
  except errors.InvalidRngError as e:
    found = re.search(r'PRNG for "([^"]+)"', str(e))
    stream = found.group(1) if found else "<stream>"
    raise ValueError(
        f"The linen model draws random numbers from the RNG stream "
        f"{stream!r}, which depths_from_model does not give by default "
        "(it gives 'params' and 'dropout'). Pass every stream the model "
        "uses: depths_from_model(model, *sample_args, rngs={'params': "
        "jax.random.key(0), 'dropout': jax.random.key(1), "
        f"{stream!r}: jax.random.key(2)}}).") from e
