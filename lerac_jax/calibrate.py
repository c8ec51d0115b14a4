# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Initial ratios calibrated from the signal-to-noise ratio at each depth.

LeRaC's premise (Croitoru et al., 2024) is that at random initialisation the
signal-to-noise ratio (SNR) of the activations falls with depth, so a deeper
layer's learning rate should start lower. :func:`measure_snr` measures that
SNR on a probe batch, one value per depth; :func:`snr_ratios` turns the
profile into ``initial_ratios`` for :func:`lerac_jax.lerac`.

Wiring it into a training program (a Flax linen model, a probe batch of
real training inputs ``probe_x`` with the batch as its leading axis)::

  ratios = lerac_jax.snr_ratios(lerac_jax.measure_snr(
      lambda p, x: model.apply({'params': p, **others}, x, train=False),
      params, probe_x, key=jax.random.key(0)), min_scale=min_scale)
  tx = lerac_jax.lerac(optax.sgd(lr), depths, curriculum_steps=k,
                       initial_ratios=ratios)

``depths`` must be the depths the SNR was measured at (by default
``depths_from_fn`` of the same function, which :func:`depths_from_model`
agrees with for linen models). On the example small CNN with a probe of 256
Fashion-MNIST images this takes about 9 s on two shared CPU cores, most of
it compiling each primitive once; a second call takes about 1 s.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np

from lerac_jax import validation
from lerac_jax.depths import dataflow
from lerac_jax.depths import primitives
from lerac_jax.depths import types

PyTree = Any

_NO_CURRICULUM_RATIO = 0.8  # a fall of less than ~1 dB over all depths


# ---------------------------------------------------------------------------
# The forward pass as one flat list of first-order equations.
# ---------------------------------------------------------------------------


def _call_jaxpr(eqn):
  """The inner closed jaxpr of a call-like equation (jit, custom_jvp, ...)."""
  s = primitives.structure(eqn)
  if isinstance(s, primitives.Call) and s.inlinable:
    return jex.ClosedJaxpr(s.jaxpr, s.consts)
  return None


def _is_loop(eqn) -> bool:
  return isinstance(primitives.structure(eqn), (
      primitives.Loop, primitives.WhileLoop, primitives.Branches))


def _inline_eval(jaxpr, consts, *args):
  """Evaluates ``jaxpr``, replacing call equations by their bodies."""
  env = dict(zip(jaxpr.constvars, consts))
  env.update(zip(jaxpr.invars, args))
  read = lambda v: v.val if isinstance(v, jex.Literal) else env[v]
  for eqn in jaxpr.eqns:
    ins = [read(v) for v in eqn.invars]
    sub = _call_jaxpr(eqn)
    if sub is not None:
      outs = _inline_eval(sub.jaxpr, sub.consts, *ins)
    else:
      outs = primitives.bind(eqn, ins)
    env.update(zip(eqn.outvars, outs))
  return [read(v) for v in jaxpr.outvars]


def _flatten(closed) -> Any:
  """``closed`` with every call (jit, custom_jvp/vjp, remat) inlined."""
  avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in closed.in_avals]
  return jax.make_jaxpr(
      lambda *a: _inline_eval(closed.jaxpr, closed.consts, *a))(*avals)


def _flat_trace(fn, params, args) -> dataflow.Traced:
  traced = dataflow.trace(lambda p, _, *a: fn(p, *a), params, (), args)
  return traced._replace(jaxpr=_flatten(traced.jaxpr))


# ---------------------------------------------------------------------------
# Where to measure: the equations where each depth's parameters meet data.
# ---------------------------------------------------------------------------


def _sites(traced, prop, depths) -> dict[int, int]:
  """Equation index -> depth, for the equations whose outputs are measured.

  An equation is a site of depth j if it is where a depth-j parameter leaf
  meets the data in a contraction (kernel times data, embedding lookup).
  A depth none of whose parameters meets data in a contraction (a depth of
  biases only) is measured where its parameters meet data elementwise.
  """
  jaxpr = traced.jaxpr.jaxpr
  leaves: dict[Any, frozenset] = {}  # parameter-only var -> its leaves
  n = 0
  for var, role in zip(jaxpr.invars, traced.roles):
    if role == dataflow.PARAM:
      leaves[var] = frozenset({n})
      n += 1
  found: dict[bool, dict[int, int]] = {True: {}, False: {}}
  for i, eqn in enumerate(jaxpr.eqns):
    ins = [leaves.get(v, frozenset()) for v in eqn.invars
           if not isinstance(v, jex.Literal)]
    met = frozenset().union(*ins)
    if all(level is None for level in prop.eqn_levels[i]):
      for v in eqn.outvars:
        leaves[v] = met
      continue
    if not met:
      continue
    if prop.eqn_raises[i] and _is_loop(eqn):
      raise NotImplementedError(
          f"measure_snr cannot see the per-layer activations inside the "
          f"{eqn.primitive.name!r} primitive (a scanned or looped stack of "
          "layers): it measures top-level equations only. Write the layers "
          "as a Python loop for the measurement.")
    ds = []
    for leaf in met:
      d = depths.depth_of(traced.names[leaf])
      if isinstance(d, types.Stacked):
        raise NotImplementedError(
            f"Parameter {traced.names[leaf]!r} has per-slice (Stacked) "
            "depths; measure_snr needs one depth per equation.")
      if d is not None:
        ds.append(d)
    if ds:
      found[bool(prop.eqn_raises[i])][i] = min(ds)
  sites = dict(found[True])
  covered = set(sites.values())
  sites.update({i: d for i, d in found[False].items() if d not in covered})
  return sites


def _batch_axes(fn, params, args, traced, sites, batch) -> dict:
  """(site, output) -> (axis, units per example along it) of the batch.

  The forward pass is traced again with one more example; the axis of a
  site's output whose size changed is its batch axis. A batch merged into a
  larger axis (``(B, N, D) -> (B * N, D)``) is assumed batch-major.
  """
  bigger = [jax.ShapeDtypeStruct((x.shape[0] + 1,) + x.shape[1:], x.dtype)
            if _is_array(x) else x for x in args]
  other = _flat_trace(fn, params, bigger).jaxpr.jaxpr.eqns
  eqns = traced.jaxpr.jaxpr.eqns
  same = len(other) == len(eqns) and all(
      a.primitive == b.primitive for a, b in zip(eqns, other))
  out = {}
  for i in sites:
    for k, var in enumerate(eqns[i].outvars):
      shape = var.aval.shape
      axes = []
      if same:
        new = other[i].outvars[k].aval.shape
        axes = [a for a, (s, t) in enumerate(zip(shape, new)) if s != t]
      elif shape and shape[0] == batch:
        axes = [0]
      if len(axes) != 1 or shape[axes[0]] % batch:
        raise ValueError(
            f"Cannot find the batch axis of the output {shape} of "
            f"{eqns[i].primitive.name!r} (a depth-{sites[i]} activation); "
            "every array in args must have the batch as its leading axis.")
      out[i, k] = (axes[0], shape[axes[0]] // batch)
  return out


def _is_array(x) -> bool:
  return isinstance(x, (jax.Array, np.ndarray))


def _is_key(x) -> bool:
  """A typed PRNG key, or a raw one (uint32 of shape (2,))."""
  dtype = getattr(x, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    return True
  return np.shape(x) == (2,) and dtype == np.uint32


# ---------------------------------------------------------------------------
# The streamed evaluation: clean and noisy passes in lockstep.
# ---------------------------------------------------------------------------


@jax.jit
def _perturb(x, key, noise_scale):
  std = jnp.std(x.astype(jnp.float32))
  noise = jax.random.normal(key, x.shape, jnp.float32) * noise_scale * std
  return (x.astype(jnp.float32) + noise).astype(x.dtype)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _stats(clean, noisy, axis, units):
  """Summed over units: variance over the batch, and mean squared change."""
  batch = clean.shape[axis] // units
  y = jnp.moveaxis(clean, axis, 0).reshape(batch, -1).astype(jnp.float32)
  z = jnp.moveaxis(noisy, axis, 0).reshape(batch, -1).astype(jnp.float32)
  return (jnp.sum(jnp.var(y, axis=0)),
          jnp.sum(jnp.mean((z - y) ** 2, axis=0)))


def _last_uses(jaxpr) -> dict:
  last = {}
  for i, eqn in enumerate(jaxpr.eqns):
    for v in eqn.invars:
      if not isinstance(v, jex.Literal):
        last[v] = i
  return last


def measure_snr(fn: Callable[..., Any], params: PyTree, *args: Any,
                key: jax.Array, depths: Any = None,
                noise_scale: float = 0.1) -> jax.Array:
  r"""The signal-to-noise ratio of each depth's activations, on a probe batch.

  With probe inputs :math:`x_1, \dots, x_B` (the arrays in ``args``) and
  Gaussian input noise :math:`\epsilon_b \sim \mathcal{N}(0, (\sigma
  \operatorname{std}(x))^2 I)`, :math:`\sigma` = ``noise_scale``, the SNR of
  depth :math:`j` is

  .. math::

    \mathrm{SNR}_j = \frac{\sum_{s \in S_j} \sum_u \operatorname{Var}_b
      [h_{s,u}(x_b)]}{\sum_{s \in S_j} \sum_u \frac{1}{B} \sum_b
      (h_{s,u}(x_b + \epsilon_b) - h_{s,u}(x_b))^2},

  where :math:`S_j` are the contractions whose parameters have depth
  :math:`j` (the equations of the dataflow walk of
  :func:`lerac_jax.depths_from_fn` where a kernel or embedding meets data:
  for parallel branches such as attention q/k/v, all of them, pooled),
  :math:`h_{s,u}` is unit :math:`u` of such a contraction's output, and
  :math:`\operatorname{Var}_b` the variance over the probe batch. The
  numerator is the spread of the activations across real inputs (the
  signal), the denominator how far a fixed small input perturbation moves
  them (the noise that reaches depth :math:`j`). Both are sums over the same
  units, so the ratio does not change when :math:`h` is rescaled or shifted
  (a bias, an initialisation scale), and it needs no labels. A depth whose
  parameters never meet data in a contraction (biases only) is measured
  where they meet data elementwise.

  Integer inputs (token ids) cannot be perturbed: noise of the same relative
  size is added instead to the first floating-point values computed from
  them (the embedding rows looked up).

  The forward pass is evaluated one equation at a time, clean and noisy in
  lockstep, and each value is dropped after its last use, so no more than
  the live values of one forward pass (twice: clean and noisy) are held at
  once, never the stack of all activations. Calls (``jit``, ``custom_jvp``,
  ``custom_vjp``, ``remat``) are inlined; a ``scan``, ``while`` or ``cond``
  that contains a contraction with parameters raises NotImplementedError
  (its per-layer activations are not top-level values), one without is
  evaluated whole.

  Args:
    fn: the forward function, ``fn(params, *args)`` (the convention of
      :func:`lerac_jax.depths_from_fn`).
    params: its parameter tree (concrete arrays).
    *args: the probe batch: arrays of real data, each with the batch as its
      leading axis (non-array arguments stay static).
    key: a ``jax.random`` key; the same key gives the same profile.
    depths: the depths to measure at; default
      ``depths_from_fn(fn, params, *args)``.
    noise_scale: :math:`\sigma`, the noise's standard deviation as a
      fraction of the input's.

  Returns:
    A float32 array of shape ``(depths.num_depths,)``: the SNR of each depth
    in linear units (not dB), input first; NaN for a depth whose parameters
    never meet data.

  Raises:
    NotImplementedError: for a loop primitive that contains contractions, or
      parameters with per-slice depths.
    TypeError: if a PRNG key is among the array arguments (the batch).
    ValueError: if a measured activation has no batch axis, or the probe
      batch has fewer than two examples.

  Example:
    >>> import jax, jax.numpy as jnp, lerac_jax
    >>> def mlp(p, x):
    ...   return jnp.tanh(x @ p['w1']) @ p['w2']
    >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    >>> p = {'w1': jax.random.normal(k1, (4, 8)),
    ...      'w2': jax.random.normal(k2, (8, 2))}
    >>> x = jax.random.normal(k3, (64, 4))
    >>> snr = lerac_jax.measure_snr(mlp, p, x, key=jax.random.key(1))
    >>> snr.shape
    (2,)
    >>> bool(snr[0] > snr[1])  # tanh saturates: the second layer is noisier
    True

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024.
  """
  data = [x for x in jax.tree_util.tree_leaves(args) if _is_array(x)]
  if not data:
    raise ValueError("measure_snr needs the probe batch as array arguments.")
  keys = [i for i, x in enumerate(data) if _is_key(x)]
  if keys:
    raise TypeError(
        f"Array argument {keys[0]} after params is a PRNG key, but every "
        "array argument of measure_snr is the probe batch (batch first). "
        "measure_snr's own key is key=; a key that fn needs goes into a "
        "closure: measure_snr(lambda p, x: fn(p, rng, x), params, x, "
        "key=jax.random.key(0)).")
  batch = data[0].shape[0] if np.ndim(data[0]) else 0
  if batch < 2:
    raise ValueError(
        f"The probe batch needs at least two examples along the leading "
        f"axis of every array argument; the first one has shape "
        f"{tuple(np.shape(data[0]))}, so {batch} example(s).")
  if depths is None:
    depths = dataflow.depths_from_fn(fn, params, *args)
  depths = types.as_depths(depths, params)
  traced = _flat_trace(fn, params, args)
  prop = dataflow.propagate(traced)
  sites = _sites(traced, prop, depths)
  axes = _batch_axes(fn, params, args, traced, sites, batch)
  jaxpr = traced.jaxpr.jaxpr
  last = _last_uses(jaxpr)
  signal = np.zeros(depths.num_depths)
  noise = np.zeros(depths.num_depths)
  seen = np.zeros(depths.num_depths, bool)

  leaves = jax.tree_util.tree_leaves(params)
  inputs = iter(leaves)
  d_in = iter(x for x in jax.tree_util.tree_leaves((tuple(args), {}))
              if _is_array(x))
  clean: dict = dict(zip(jaxpr.constvars, traced.jaxpr.consts))
  noisy: dict = dict(clean)
  for n, (var, role) in enumerate(zip(jaxpr.invars, traced.roles)):
    value = jnp.asarray(next(inputs) if role == dataflow.PARAM else next(d_in))
    clean[var] = noisy[var] = value
    if role == dataflow.DATA and jnp.issubdtype(value.dtype, jnp.floating):
      noisy[var] = _perturb(value, jax.random.fold_in(key, n), noise_scale)

  def read(env, v):
    return v.val if isinstance(v, jex.Literal) else env[v]

  for i, eqn in enumerate(jaxpr.eqns):
    ins_c = [read(clean, v) for v in eqn.invars]
    ins_n = [read(noisy, v) for v in eqn.invars]
    outs_c = primitives.bind(eqn, ins_c)
    has_data = any(level is not None for level in prop.eqn_levels[i])
    if not any(a is not b for a, b in zip(ins_c, ins_n)):
      outs_n = list(outs_c)
      if has_data:  # first floats computed from integer data: perturb here
        outs_n = [
            _perturb(o, jax.random.fold_in(key, len(jaxpr.invars) + i + 7 * k),
                     noise_scale)
            if jnp.issubdtype(o.dtype, jnp.floating) else o
            for k, o in enumerate(outs_c)]
    else:
      outs_n = primitives.bind(eqn, ins_n)
    if i in sites:
      j = sites[i]
      for k, (c, z) in enumerate(zip(outs_c, outs_n)):
        s, e = _stats(c, z, *axes[i, k])
        signal[j] += float(s)
        noise[j] += float(e)
        seen[j] = True
    for v, c, z in zip(eqn.outvars, outs_c, outs_n):
      if last.get(v, -1) > i:
        clean[v], noisy[v] = c, z
    del ins_c, ins_n, outs_c, outs_n
    for v in eqn.invars:
      if not isinstance(v, jex.Literal) and last.get(v) == i:
        clean.pop(v, None)
        noisy.pop(v, None)
  with np.errstate(divide="ignore", invalid="ignore"):
    snr = np.where(seen, signal / noise, np.nan)
  return jnp.asarray(snr, jnp.float32)


# ---------------------------------------------------------------------------
# From a profile to initial ratios.
# ---------------------------------------------------------------------------


def _loglinear(snr: np.ndarray) -> np.ndarray:
  """The least-squares line through ``log(snr)`` against depth, as SNRs."""
  depth = np.arange(len(snr), dtype=np.float64)
  if len(snr) < 2:
    return snr
  slope, intercept = np.polyfit(depth, np.log(snr), 1)
  return np.exp(intercept + slope * depth)


def snr_ratios(snr: Any, *, min_scale: float | None = None,
               fit: str = "measured", power: float = 1.0) -> jax.Array:
  r"""Initial ratios that follow the fall of a measured SNR profile.

  With :math:`s_j` the SNR of depth :math:`j` (``fit='measured'``) or its
  log-linear least-squares fit :math:`s_j = e^{a + b j}` (``fit='loglinear'``,
  which smooths a noisy profile into one factor per depth),

  .. math::

    r_j = \operatorname{clip}\Big(\min_{i \le j}
      \big(s_i / s_0\big)^{p},\ \text{min\_scale},\ 1\Big),

  so :math:`r_0 = 1`, the ratios are non-increasing (the running minimum: a
  depth never starts faster than one nearer the input, the paper's Eq. 6),
  and a depth whose SNR is ten times lower than the input layer's starts at
  a tenth of the rate (for the default power :math:`p = 1`): the learning
  rate follows the SNR. A profile that rises gives ratios of 1: no
  curriculum.

  Args:
    snr: one positive SNR per depth, input first (linear units, as from
      :func:`measure_snr`).
    min_scale: the lowest ratio, in ``[tiny, 1]`` with ``tiny`` float32's
      smallest normal, the range :class:`lerac_jax.Curriculum` accepts; None
      is :func:`lerac_jax.lerac`'s default, ``1e-6``.
    fit: ``'measured'`` (use the profile as measured) or ``'loglinear'``.
    power: :math:`p`, the exponent on the SNR ratio; ``2`` follows the SNR's
      square (amplitude to power), ``0.5`` its square root.

  Returns:
    A float32 array of shape ``(len(snr),)``, to pass as ``initial_ratios=``
    to :func:`lerac_jax.lerac`.

  Raises:
    ValueError: for an empty profile, a non-positive or non-finite SNR, a bad
      ``min_scale`` or ``power``, or an unknown ``fit``.

  Warns:
    UserWarning: when the SNR does not fall (the smallest ratio before
      clipping is above 0.8, less than about 1 dB over all depths): the
      calibration then prescribes little or no curriculum.

  Example:
    >>> import lerac_jax
    >>> lerac_jax.snr_ratios([100.0, 50.0, 60.0, 10.0], min_scale=0.2)
    Array([1. , 0.5, 0.5, 0.2], dtype=float32)
    >>> lerac_jax.snr_ratios([100.0, 50.0, 25.0], fit='loglinear')
    Array([1.  , 0.5 , 0.25], dtype=float32)

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024 (Eqs. 6 and 8).
  """
  s = np.asarray(snr, np.float64)
  if s.ndim != 1 or not len(s):
    raise ValueError(f"snr must be a non-empty 1-D profile; got shape "
                     f"{s.shape}.")
  if not np.all(np.isfinite(s) & (s > 0)):
    bad = [i for i, v in enumerate(s) if not (np.isfinite(v) and v > 0)]
    raise ValueError(
        f"Every SNR must be positive and finite; depths {bad} are "
        f"{s[bad].tolist()} (NaN: the depth's parameters never meet data).")
  floor = 1e-6 if min_scale is None else float(min_scale)
  validation.check_min_scale(floor)
  if not power > 0:
    raise ValueError(f"power must be positive; got {power!r}.")
  if fit == "loglinear":
    s = _loglinear(s)
  elif fit != "measured":
    raise ValueError(f"fit must be 'measured' or 'loglinear'; got {fit!r}.")
  ratios = np.minimum.accumulate(np.minimum(s / s[0], 1.0) ** power)
  if len(s) > 1 and ratios[-1] > _NO_CURRICULUM_RATIO:
    fall = -10 * np.log10(ratios[-1]) / power
    warnings.warn(
        f"The SNR does not fall with depth (at most {fall:.2g} dB below "
        "depth 0): the calibrated ratios prescribe little or no curriculum "
        f"(smallest ratio {ratios[-1]:.3g}).", stacklevel=2)
  return jnp.asarray(np.clip(ratios, floor, 1.0), jnp.float32)
