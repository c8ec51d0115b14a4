# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Depth as distance from the input in the dataflow graph (the jaxpr walk).

The forward function is traced abstractly to a jaxpr with the parameters and
the data as separate inputs. Every value gets a *data level*: data inputs are
level 0; a contraction of a parameter(-derived) value with data
(``dot_general``, ``conv_general_dilated``, an embedding ``gather`` or
``dynamic_slice``) is :math:`\ell + 1`; every other op keeps the highest level
of its data inputs, so a data-data contraction (attention scores) adds
nothing. Values computed from parameters alone carry the set of parameters
they came from; those parameters get, as their level, the output level of the
first op where they meet data (the lowest, if they meet it several times).
How each primitive moves data (a call, a loop, a contraction, a view) comes
from :mod:`lerac_jax.depths.primitives`; this walk never reads an
equation's params.

Four refinements keep the levels to the model's design rather than to how
it is written: an elementwise parameter on the raw data (an input norm)
joins the first layer the data feeds; a factorised layer ``(x @ a) @ b``
through a narrow rank (LoRA) is one level; a parameter applied to a data x
data product adds a level to the axes it contracts only (einsum order does
not matter); and parameter rows picked by data indices and then applied to
data (top-1 expert routing) sit at the level of their input, not one below
the router.

Levels are max-plus linear in the inputs: :math:`\ell_{out} = \max_i(\ell_i +
w_i)`. A scan body is therefore walked once per carry pattern with symbolic
carry levels, which gives a small max-plus map; iterating that map costs a few
dict operations per step, and a uniform shift seen twice in a row is
extrapolated exactly, so a scan over 10,000 steps costs about as much as one
over 10.

Internal interface (used by :mod:`lerac_jax.depths.models` and meant for
tools that need the activations of each depth): :func:`trace` gives the
jaxpr and the role of each input, :func:`propagate` gives the level of each
top-level equation's outputs and the level of each parameter leaf.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, overload

import jax
import jax.extend.core as jex
import numpy as np

from lerac_jax.depths import grouping
from lerac_jax.depths import primitives
from lerac_jax.depths import types

PyTree = Any

_CONST = ""  # the constant term of a level expression
_INPUT = {_CONST: 0}  # the level of the raw data
_MAX_WHILE_ITERATIONS = 64

# A level is None (no data: a constant or a parameter-only value) or a dict
# {key: offset} read as max over keys of (key's level + offset); key _CONST is
# a plain number. Inside a scan body the keys name the body's carry inputs.
Level = "dict | None"


def _lmax(a, b):
  if a is None:
    return b
  if b is None:
    return a
  out = dict(a)
  for k, v in b.items():
    if out.get(k, -np.inf) < v:
      out[k] = v
  return out


def _ladd(a, n):
  return None if a is None else {k: v + n for k, v in a.items()}


def _subst(expr, env):
  """Evaluates a level expression with the symbolic keys in ``env`` replaced."""
  if expr is None:
    return None
  out = None
  for k, off in expr.items():
    if k in env:
      out = _lmax(out, _ladd(env[k], off))
    else:
      out = _lmax(out, {k: off})
  return out


def _shift(old, new):
  """The uniform shift from ``old`` to ``new`` levels, or None if none."""
  delta = None
  for a, b in zip(old, new):
    if (a is None) != (b is None):
      return None
    if a is None:
      continue
    if a.keys() != b.keys():
      return None
    for k in a:
      d = b[k] - a[k]
      if delta is None:
        delta = d
      elif d != delta:
        return None
  return delta


def _geq(new, old) -> bool:
  for a, b in zip(old, new):
    if a is None:
      continue
    if b is None or any(b.get(k, -np.inf) < v for k, v in a.items()):
      return False
  return True


class _Val(NamedTuple):
  """What the walk knows about one value.

  Attributes:
    level: its data level (None: no data).
    params: parameters that have not met data yet (a parameter-only value).
    riders: elementwise parameters that met the raw data (an input norm's
      scale, a learned input scale); they join the first layer the value
      feeds, so input normalisation adds no depth.
    tag: how the value came straight from a contraction, kept through
      layout changes and scaling by constants: ``("factor", n)``, the output
      of a parameter contraction over ``n`` input features (a LoRA ``x @
      a``); ``("selected", params, level)``, parameter rows picked by data
      indices at ``level`` (top-1 expert routing); ``("axes", levels)``,
      the level of each axis of a data x data product (tokens mixed by
      routing weights).
  """

  level: Any  # a Level
  params: frozenset  # parameters that have not met data yet
  riders: frozenset = frozenset()
  tag: Any = None


_NO_DATA = _Val(None, frozenset())


class _Event(NamedTuple):
  params: frozenset
  level: dict  # a Level, never None: an event is where data is met
  raising: bool  # the op was a parameter x data contraction
  fallback: bool = False  # an input-level meeting, used if no other is found


@dataclasses.dataclass
class _Context:
  """What the walk of one (sub)jaxpr collects."""

  shared: "_Shared"
  events: list = dataclasses.field(default_factory=list)

  def child(self) -> "_Context":
    return _Context(self.shared)


@dataclasses.dataclass
class _Shared:
  names: Sequence[str]
  shapes: Sequence[tuple]
  stack_axis: int
  stacks: dict = dataclasses.field(default_factory=dict)
  uids: Any = dataclasses.field(default_factory=itertools.count)


def _join(a: _Val, b: _Val, ctx: _Context) -> _Val:
  level = _lmax(a.level, b.level)
  params = a.params | b.params
  if level is not None and params:
    ctx.events.append(_Event(params, level, False))
    params = frozenset()
  return _Val(level, params, a.riders | b.riders)


def _size(shape, axes) -> int:
  return int(np.prod([shape[a] for a in axes])) if axes else 1


def _axis_levels(v: _Val, ndim: int) -> list:
  """The level of each axis of a data value (from a data x data product)."""
  if v.tag is not None and v.tag[0] == "axes" and len(v.tag[1]) == ndim:
    return list(v.tag[1])
  return [v.level] * ndim


def _mix(s: primitives.Contraction, ins: Sequence[_Val], shapes):
  """The axes tag of a data x data contraction: each output axis's level.

  A parameter applied to the result then adds its level to the axes it
  contracts only: routing weights mixing tokens do not deepen the expert
  applied to the mixture, whichever order an einsum contracts in.
  """
  if s.contracting is None or len(shapes) < 2:
    return None
  la, lb = (_axis_levels(v, len(sh)) for v, sh in zip(ins, shapes))
  assert s.batch is not None  # known whenever the contracting axes are
  (ca, cb), (ba, bb) = s.contracting, s.batch
  out = [_lmax(la[i], lb[j]) for i, j in zip(ba, bb)]
  out += [la[i] for i in range(len(la)) if i not in ca and i not in ba]
  out += [lb[i] for i in range(len(lb)) if i not in cb and i not in bb]
  return ("axes", tuple(out))


def _contract(s: primitives.Contraction, ins: Sequence[_Val], shapes):
  """(level, raising, params that met data, tag) of a contraction, or None.

  ``None`` means the operands are not a parameter and data (data x data, or
  a parameter x parameter product), so the generic rule applies.
  """
  a, b = ins[0], ins[1]
  tag: tuple | None  # ("factor", n), ("selected", params, level) or None
  for w, x, wi in ((a, b, 0), (b, a, 1)):
    if x.level is None:
      continue
    if w.level is None and w.params:  # a kernel (or a product of kernels)
      level, out_level, tag = _ladd(x.level, 1), None, None
      if s.contracting is not None:
        xi = 1 - wi
        axes = _axis_levels(x, len(shapes[xi]))
        contracted = s.contracting[xi]
        if contracted and x.tag is not None and x.tag[0] == "axes":
          read = functools.reduce(_lmax, [axes[i] for i in contracted])
          level = _ladd(read, 1)
          out_level = functools.reduce(_lmax, [level] + [
              axes[i] for i in range(len(axes)) if i not in contracted])
        rank = _size(shapes[xi], contracted)
        assert s.batch is not None  # known whenever the contracting axes are
        used = set(s.contracting[wi]) | set(s.batch[wi])
        out = _size(shapes[wi], [i for i in range(len(shapes[wi]))
                                 if i not in used])
        tag = ("factor", rank)
        if not contracted:
          # No axis summed: parameters weighted by data, like routed rows.
          tag = ("selected", w.params, x.level)
        elif (x.tag is not None and x.tag[0] == "factor"
            and rank < x.tag[1] and rank < out):
          # (x @ a) @ b through a narrow rank: one factorised layer, x @ ab.
          level = x.level
      return level, out_level, True, w.params, tag
    if (w.tag is not None and w.tag[0] == "selected"
        and (x.tag is None or x.tag[0] != "selected")):
      # Expert weights picked by a router, applied to the router's input:
      # the expert is the layer, at the router's depth.
      _, picked, index_level = w.tag
      level = _lmax(_ladd(x.level, 1), index_level)
      return level, None, True, picked, None
  return None


def _apply(s, ins: Sequence[_Val], shapes, ctx: _Context) -> _Val:
  """One first-order op: the rule for level and parameter meetings."""
  pending = frozenset().union(*(v.params for v in ins))
  riders = frozenset().union(*(v.riders for v in ins))
  data = [v for v in ins if v.level is not None]
  if not data:
    return _Val(None, pending)
  level = functools.reduce(_lmax, [v.level for v in data])
  raising, tag = False, None
  if isinstance(s, primitives.Contraction) and len(ins) >= 2:
    got = _contract(s, ins, shapes)
    if got is not None:
      level, out_level, raising, met, tag = got
      ctx.events.append(_Event(met, level, True))
      pending = pending - met
      level = level if out_level is None else out_level
    elif ins[0].level is not None and ins[1].level is not None:
      tag = _mix(s, ins, shapes)
  elif isinstance(s, primitives.Lookup):
    operand, indices = ins[0], [v.level for v in ins[1:] if v.level is not None]
    if operand.level is None and operand.params and indices:
      index_level = functools.reduce(_lmax, indices)
      level, raising = _ladd(index_level, 1), True
      tag = ("selected", operand.params, index_level)
  elif isinstance(s, (primitives.View, primitives.Scale)) and len(data) == 1:
    others = [v for v in ins if v.level is None]
    if not any(v.params for v in others):
      tag = _moved(data[0].tag, s)
  if pending:
    if level == _INPUT and not raising:
      # An elementwise parameter on the raw data (an input norm): it rides
      # along to the first layer the data feeds.
      ctx.events.append(_Event(pending, level, False, fallback=True))
      riders |= pending
    else:
      ctx.events.append(_Event(pending, level, raising))
  if riders and level != _INPUT:
    ctx.events.append(_Event(riders, level, False))
    riders = frozenset()
  return _Val(level, frozenset(), riders, tag)


def _moved(tag, s):
  """A tag through a layout change: axis levels follow a permutation only."""
  if tag is None or tag[0] != "axes":
    return tag
  if isinstance(s, primitives.Scale) or (
      isinstance(s, primitives.View) and s.same_axes):
    if getattr(s, "permutation", None) is None:
      return tag
    return ("axes", tuple(tag[1][p] for p in s.permutation))
  return None


def _walk(jaxpr, ins: Sequence[_Val], ctx: _Context, views=None,
          record=None, finals=None) -> list[_Val]:
  """Propagates levels through ``jaxpr`` (its constvars carry no data).

  With ``finals`` (a list), it receives the value each input holds at the
  end: a reference written in the body holds what was written.
  """
  env: dict = {}
  views = dict(views or {})
  for v in jaxpr.constvars:
    env[v] = _NO_DATA
  for v, val in zip(jaxpr.invars, ins):
    env[v] = val

  def read(v):
    return _NO_DATA if isinstance(v, jex.Literal) else env[v]

  for eqn in jaxpr.eqns:
    vals = [read(v) for v in eqn.invars]
    before = len(ctx.events)
    s = primitives.structure(eqn)
    outs, writes = _eqn(eqn, s, vals, ctx, views)
    for var, val in zip(eqn.outvars, outs):
      env[var] = val
    for k, val in writes.items():
      if not isinstance(eqn.invars[k], jex.Literal):
        env[eqn.invars[k]] = val
    _track_view(eqn, s, views)
    if record is not None:
      record.append((eqn, [o.level for o in outs],
                     any(e.raising for e in ctx.events[before:])))
  if finals is not None:
    finals[:] = [read(v) for v in jaxpr.invars]
  return [read(v) for v in jaxpr.outvars]


def _track_view(eqn, s, views) -> None:
  """Which leaf axes a parameter-only value's axes are (for scan's xs)."""
  if not isinstance(s, primitives.View) or not s.same_axes:
    return
  if not eqn.invars or isinstance(eqn.invars[0], jex.Literal):
    return
  view = views.get(eqn.invars[0])
  if view is None:
    return
  leaf, axes = view
  if s.permutation is not None:
    axes = tuple(axes[p] for p in s.permutation)
  views[eqn.outvars[0]] = (leaf, axes)


def _inner_views(outer_vars, jaxpr, views):
  out = {}
  for outer, inner in zip(outer_vars, jaxpr.invars):
    if not isinstance(outer, jex.Literal) and outer in views:
      out[inner] = views[outer]
  return out


def _shape(var) -> tuple:
  return tuple(getattr(getattr(var, "aval", None), "shape", ()) or ())


def _eqn(eqn, s, vals, ctx, views):
  """(outputs, {input position: new value of a written reference})."""
  if isinstance(s, primitives.Loop):
    return _scan(eqn, s, vals, ctx, views)
  if isinstance(s, primitives.WhileLoop):
    return _while(s, vals, ctx), {}
  if isinstance(s, primitives.Branches):
    return _cond(s, vals, ctx)
  if isinstance(s, primitives.Call):
    finals: list = []
    outs = _walk(s.jaxpr, vals, ctx, _inner_views(eqn.invars, s.jaxpr, views),
                 finals=finals)
    return outs, _written(vals, finals)
  if isinstance(s, primitives.PerOperand):
    return [_apply(s, [v], (), ctx) for v in vals], {}
  if isinstance(s, primitives.RefRead):
    return [vals[0]], {}
  if isinstance(s, primitives.RefWrite):
    # The reference then holds either value (an indexed write keeps the
    # rest): the join, which is exact for the levels' max.
    new = _join(vals[0], _apply(s, vals[1:], (), ctx), ctx)
    return ([vals[0]] if s.returns_old else []), {0: new}
  out = _apply(s, vals, [_shape(v) for v in eqn.invars], ctx)
  return [out] * len(eqn.outvars), {}


def _written(before: Sequence[_Val], after: Sequence[_Val]) -> dict:
  return {k: a for k, (b, a) in enumerate(zip(before, after)) if a is not b}


def _cond(s, vals, ctx):
  index, operands = vals[0], vals[1:]
  outs, writes = None, {}
  for branch in s.jaxprs:
    finals: list = []
    got = _walk(branch, operands, ctx, finals=finals)
    outs = got if outs is None else [_join(a, b, ctx)
                                     for a, b in zip(outs, got)]
    for k, val in _written(operands, finals).items():
      writes[k + 1] = _join(writes.get(k + 1, vals[k + 1]), val, ctx)
  if index.level is not None:  # the choice depends on data
    outs = [o._replace(level=_lmax(o.level, index.level))
            if o.level is not None else o for o in outs]
  return outs, writes


def _entering(v: _Val) -> _Val:
  """A value entering a loop's carry: riders and tags stay outside."""
  return _Val(v.level, v.params)


def _refuse_loop_writes(before, after, what: str, allowed=()) -> None:
  written = [k for k in _written(before, after) if k not in allowed]
  if written:
    raise NotImplementedError(
        f"A {what} body writes to a reference (inputs {written}) that it "
        "does not carry, so the depth of what it holds depends on the trip "
        "count. Carry the value through the loop instead, or give the "
        "depths with depths_from_rules.")


def _while(s, vals, ctx) -> list[_Val]:
  nc, nb = s.cond_consts, s.body_consts
  cond_consts, body_consts = vals[:nc], vals[nc:nc + nb]
  carry = [_entering(v) for v in vals[nc + nb:]]
  for _ in range(_MAX_WHILE_ITERATIONS):
    _walk(s.cond, list(cond_consts) + list(carry), ctx)
    body_in = list(body_consts) + list(carry)
    finals: list[_Val] = []
    new = _walk(s.body, body_in, ctx, finals=finals)
    _refuse_loop_writes(body_in, finals, "lax.while_loop")
    joined = [_entering(_join(a, b, ctx)) for a, b in zip(carry, new)]
    if joined == list(carry):
      return joined
    carry = joined
  raise ValueError(
      "A lax.while_loop's carried values get deeper on every iteration (a "
      "recurrence with a data-dependent trip count), so their depth depends "
      "on the trip count. Use lax.scan or lax.fori_loop with static bounds, "
      "or depths_from_rules.")


def _note_stack(ctx, leaf, length, view) -> None:
  shared = ctx.shared
  shape = tuple(shared.shapes[leaf])
  name = shared.names[leaf]
  ndim = len(shape)
  axis = shared.stack_axis
  if not -ndim <= axis < ndim:
    raise ValueError(
        f"stack_axis={axis} is out of range for the stacked parameter "
        f"{name!r} of shape {shape}: valid axes are 0..{ndim - 1} (or "
        f"{-ndim}..-1).")
  axis %= ndim
  if view is not None and view[0] == leaf:
    found = view[1][0]
  else:
    candidates = [a for a in range(ndim) if shape[a] == length]
    if axis in candidates:
      found = axis
    elif len(candidates) == 1:
      found = candidates[0]
    else:
      raise ValueError(
          f"Cannot tell the layer axis of stacked parameter {name!r} (shape "
          f"{shape}, {length} slices): it could be any of {candidates}. Pass "
          f"stack_axis= (one of {candidates}).")
  old = shared.stacks.setdefault(leaf, (length, found))
  if old != (length, found):
    raise ValueError(
        f"Parameter {name!r} is scanned over twice, as {old[0]} slices on "
        f"axis {old[1]} and as {length} slices on axis {found}; per-slice "
        "depths support one layer axis. Use depths_from_rules.")


def _scan(eqn, loop, vals, ctx,
          views) -> tuple[list[_Val], dict[int, _Val]]:
  body, length, reverse = loop.jaxpr, loop.length, loop.reverse
  n_out = len(loop.carry)  # carried through the outputs; then references
  positions = loop.carry + loop.ref_carry
  ncar = len(positions)
  carry = [_entering(vals[i]) for i in positions]
  uid = next(ctx.shared.uids)
  body_in: list = list(vals)
  for k in loop.xs:
    v = vals[k]
    leaves = {i for i in v.params if isinstance(i, int)}
    if v.level is None and leaves:
      outer = eqn.invars[k]
      view = None if isinstance(outer, jex.Literal) else views.get(outer)
      for i in leaves:
        _note_stack(ctx, i, length, view)
      body_in[k] = _Val(None, frozenset(
          ("slice", uid, i) if isinstance(i, int) else i for i in v.params))
  keys = [("carry", uid, i) for i in range(ncar)]
  inner_views = _inner_views(eqn.invars, body, views)
  summaries: dict = {}

  def summary(pattern):
    if pattern not in summaries:
      sub = ctx.child()
      ins = list(body_in)
      for key, i, (data, params) in zip(keys, positions, pattern):
        ins[i] = _Val({key: 0}, frozenset()) if data else _Val(None, params)
      finals: list = []
      outs = _walk(body, ins, sub, inner_views, finals=finals)
      _refuse_loop_writes(ins, finals, "scan", allowed=loop.ref_carry)
      outs = (outs[:n_out] + [finals[i] for i in loop.ref_carry]
              + outs[n_out:])
      summaries[pattern] = (outs, sub.events)
    return summaries[pattern]

  def to_global(ids):
    return frozenset(i[2] if isinstance(i, tuple) and i[:2] == ("slice", uid)
                     else i for i in ids)

  def emit(events, levels, t, local_only=False):
    env = dict(zip(keys, levels))
    s = length - 1 - t if reverse else t
    for e in events:
      level = _subst(e.level, env)
      local = frozenset(("ps", i[2], s) for i in e.params
                        if isinstance(i, tuple) and i[:2] == ("slice", uid))
      rest = frozenset(i for i in e.params
                       if not (isinstance(i, tuple) and i[:2] == ("slice", uid)))
      if local:
        ctx.events.append(e._replace(params=local, level=level))
      if rest and not local_only:
        ctx.events.append(e._replace(params=rest, level=level))

  def evaluate(outs, levels):
    env = dict(zip(keys, levels))
    return [_Val(_subst(o.level, env), to_global(o.params)) for o in outs]

  ys = None

  def join_ys(new):
    nonlocal ys
    ys = new if ys is None else [_join(a, b, ctx) for a, b in zip(ys, new)]

  pattern_of = lambda c: tuple((v.level is not None, v.params) for v in c)
  t = 0
  # Transient: walk until the carry pattern (which carries hold data, which
  # parameters the others hold) repeats.
  while t < length:
    pattern = pattern_of(carry)
    outs, events = summary(pattern)
    levels = [v.level for v in carry]
    emit(events, levels, t)
    new = evaluate(outs, levels)
    join_ys(new[ncar:])
    carry, t = new[:ncar], t + 1
    if pattern_of(carry) == pattern:
      break
  if t < length:
    # Regime: the same max-plus map every step; only the levels change.
    outs, events = summary(pattern_of(carry))
    has_local = any(isinstance(i, tuple) and i[:2] == ("slice", uid)
                    for e in events for i in e.params)
    levels = [v.level for v in carry]
    monotone, last_delta, extrapolate, first = False, None, None, True
    while t < length:
      if extrapolate is not None and not has_local and t < length - 1:
        t = length - 1  # nothing but the last step's values is needed
        t0, base, delta = extrapolate
        levels = [_ladd(l, (t - t0) * delta) for l in base]
      # Levels only grow once the map is monotone here, so the parameters
      # broadcast into the body meet data lowest at the first such step.
      emit(events, levels, t, local_only=monotone and not first)
      first = False
      if not monotone or t == length - 1:
        join_ys(evaluate(outs[ncar:], levels))
      if extrapolate is not None:
        t0, base, delta = extrapolate
        new = [_ladd(l, (t + 1 - t0) * delta) for l in base]
      else:
        env = dict(zip(keys, levels))
        new = [_subst(o.level, env) for o in outs[:ncar]]
        monotone = monotone or _geq(new, levels)
        delta = _shift(levels, new)
        # Two equal non-negative shifts in a row: exact from here on.
        if delta is not None and delta >= 0 and delta == last_delta:
          extrapolate = (t + 1, new, delta)
        last_delta = delta
      levels, t = new, t + 1
    carry = [_Val(l, v.params) for l, v in zip(levels, carry)]
  if ys is None:
    ys = [_NO_DATA] * (len(eqn.outvars) - n_out)
  return (list(carry[:n_out]) + list(ys),
          dict(zip(loop.ref_carry, carry[n_out:])))


# ---------------------------------------------------------------------------
# Tracing and the top-level walk.
# ---------------------------------------------------------------------------

PARAM, DATA, FIXED = "param", "data", "fixed"


def _is_array(x) -> bool:
  return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


class Traced(NamedTuple):
  """A forward function traced abstractly, with the role of every input.

  Attributes:
    jaxpr: the ``jax.extend.core.ClosedJaxpr`` of the forward pass.
    roles: per jaxpr input, :data:`PARAM`, :data:`DATA` or :data:`FIXED`.
    names: canonical path of each parameter leaf, in flattening order; the
      ``PARAM`` inputs are these leaves, in this order.
    shapes: shape of each parameter leaf.
  """

  jaxpr: Any
  roles: tuple[str, ...]
  names: tuple[str, ...]
  shapes: tuple[tuple[int, ...], ...]


def trace(fn: Callable[..., Any], params: PyTree, fixed: PyTree = (),
          args: Sequence[Any] = (), kwargs: dict | None = None) -> Traced:
  """Traces ``fn(params, fixed, *args, **kwargs)`` to a jaxpr, abstractly.

  Array leaves (``jax.Array``, ``np.ndarray``, ``jax.ShapeDtypeStruct``) of
  ``params``, ``fixed``, ``args`` and ``kwargs`` become abstract inputs; other
  Python values stay static, so ``train=False`` can drive Python control flow.
  Nothing is allocated.

  Args:
    fn: the forward function.
    params: the parameter tree; every leaf must be an array.
    fixed: inputs that are neither parameters nor data (batch statistics,
      RNG state); they carry no level.
    args: positional data inputs.
    kwargs: keyword inputs; arrays among them are data.

  Returns:
    A :class:`Traced`.
  """
  kwargs = dict(kwargs or {})
  named = types.flatten_with_names(params)
  p_leaves, p_def = jax.tree_util.tree_flatten(params)
  bad = [n for n, x in named if not _is_array(x)]
  if bad:
    raise TypeError(
        f"Every parameter leaf must be an array or jax.ShapeDtypeStruct; "
        f"these are not: {bad[:5]}.")
  f_leaves, f_def = jax.tree_util.tree_flatten(fixed)
  d_leaves, d_def = jax.tree_util.tree_flatten((tuple(args), kwargs))
  dynamic = [p_leaves, [x for x in f_leaves if _is_array(x)],
             [x for x in d_leaves if _is_array(x)]]
  def flat(*leaves):
    n_p, n_f = len(dynamic[0]), len(dynamic[1])
    p = jax.tree_util.tree_unflatten(p_def, leaves[:n_p])
    f = jax.tree_util.tree_unflatten(
        f_def, _merge(f_leaves, leaves[n_p:n_p + n_f]))
    a, kw = jax.tree_util.tree_unflatten(
        d_def, _merge(d_leaves, leaves[n_p + n_f:]))
    return fn(p, f, *a, **kw)

  abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype)
              for group in dynamic for x in group]
  jaxpr = jax.make_jaxpr(flat)(*abstract)
  roles = ((PARAM,) * len(dynamic[0]) + (FIXED,) * len(dynamic[1])
           + (DATA,) * len(dynamic[2]))
  return Traced(jaxpr, roles, tuple(n for n, _ in named),
                tuple(tuple(x.shape) for x in p_leaves))


def _merge(leaves, dynamic):
  it = iter(dynamic)
  return [next(it) if _is_array(x) else x for x in leaves]


class Propagation(NamedTuple):
  """The levels of one traced forward pass.

  Attributes:
    eqn_levels: per top-level equation of the jaxpr, the level of each
      output (None: no data, a parameter-only or constant value).
    eqn_raises: per top-level equation, whether it (or a jaxpr inside it)
      contracts a parameter with data, i.e. produces a new level.
    leaf_levels: parameter leaf index -> lowest level where it meets data, for
      uses of the whole leaf.
    slice_levels: stacked leaf index -> {slice: lowest level}.
    stacks: stacked leaf index -> (number of slices, layer axis).
    contraction_leaves: indices of leaves that meet data in a contraction
      (kernels, embeddings), as opposed to elementwise (bias, norm scale).
  """

  eqn_levels: tuple[tuple[int | None, ...], ...]
  eqn_raises: tuple[bool, ...]
  leaf_levels: dict[int, int]
  slice_levels: dict[int, dict[int, int]]
  stacks: dict[int, tuple[int, int]]
  contraction_leaves: frozenset[int]


@overload
def _concrete(level: None) -> None:
  ...


@overload
def _concrete(level: dict) -> int:
  ...


def _concrete(level: dict | None) -> int | None:
  if level is None:
    return None
  return int(level[_CONST])


def propagate(traced: Traced, *, stack_axis: int = 0) -> Propagation:
  """Propagates data levels through a traced forward pass.

  Args:
    traced: from :func:`trace`.
    stack_axis: the layer axis to prefer when a scanned parameter's shape
      leaves it ambiguous.

  Returns:
    A :class:`Propagation`.

  Raises:
    NotImplementedError: for a higher-order primitive the walk cannot follow.
    ValueError: for a stacked parameter whose layer axis is ambiguous, or a
      while loop whose depth grows with its trip count.
  """
  shared = _Shared(traced.names, traced.shapes, stack_axis)
  ctx = _Context(shared)
  jaxpr = traced.jaxpr.jaxpr
  ins, views, leaf = [], {}, 0
  for var, role in zip(jaxpr.invars, traced.roles):
    if role == PARAM:
      ins.append(_Val(None, frozenset({leaf})))
      views[var] = (leaf, tuple(range(len(traced.shapes[leaf]))))
      leaf += 1
    elif role == DATA:
      ins.append(_Val({_CONST: 0}, frozenset()))
    else:
      ins.append(_NO_DATA)
  record: list = []
  _walk(jaxpr, ins, ctx, views, record)
  leaf_levels: dict[int, int] = {}
  slice_levels: dict[int, dict[int, int]] = {}
  contraction = set()
  # An elementwise parameter on the raw data takes the level of the first
  # layer it feeds; its input-level meeting counts only if it feeds none.
  # One that feeds no layer joins the first layer (it adds no depth).
  placed = {pid for e in ctx.events if not e.fallback for pid in e.params}
  first_layer = min((_concrete(e.level) for e in ctx.events
                     if e.raising and not e.fallback), default=None)
  for event in ctx.events:
    level = _concrete(event.level)
    if event.fallback and first_layer is not None:
      level = first_layer
    for pid in event.params:
      if event.fallback and pid in placed:
        continue
      if isinstance(pid, int):
        i, table, key = pid, leaf_levels, pid
      else:  # ("ps", leaf, slice)
        i, table, key = pid[1], slice_levels.setdefault(pid[1], {}), pid[2]
      if key not in table or level < table[key]:
        table[key] = level
      if event.raising:
        contraction.add(i)
  return Propagation(
      tuple(tuple(_concrete(l) for l in levels) for _, levels, _ in record),
      tuple(r for _, _, r in record), leaf_levels, slice_levels,
      dict(shared.stacks), frozenset(contraction))


def discover(fn: Callable[..., Any], params: PyTree, fixed: PyTree,
             args: Sequence[Any], kwargs: dict, *, group: str = "layer",
             block_level: int | None = None,
             stack_axis: int = 0) -> types.Depths:
  """Traces, propagates and groups: the body of every discovery front end."""
  traced = trace(fn, params, fixed, args, kwargs)
  prop = propagate(traced, stack_axis=stack_axis)
  raw = grouping.leaf_levels(prop, traced.names, traced.shapes)
  if group == "layer":
    return grouping.layer_depths(raw)
  contraction = {traced.names[i] for i in prop.contraction_leaves}
  return grouping.block_depths(raw, contraction, block_level)


def depths_from_fn(fn: Callable[..., Any], params: PyTree, *args: Any,
                   **kwargs: Any) -> types.Depths:
  r"""Depths of any JAX function's parameters, from its dataflow graph.

  ``fn(params, *args, **kwargs)`` is traced abstractly (nothing is allocated;
  arrays may be ``jax.ShapeDtypeStruct``). Array leaves of ``args`` and
  ``kwargs`` are the data; other Python values stay static. A parameter's
  depth is its distance from the data: with data at level 0, a contraction
  of a parameter with data at level :math:`\ell` (``dot_general``, einsum,
  convolution, embedding lookup) is at level :math:`\ell + 1`, every other op
  keeps the highest level of its data inputs, and a parameter gets the level
  of the first op where it meets data. So

  * parallel branches (attention q/k/v, gate and up projections, twin heads)
    share a depth, and a data-data contraction (attention scores) adds none;
  * elementwise parameters (biases, norm scales, LayerScale) join the layer
    whose output they touch, whatever their class;
  * parameter-only preprocessing (weight standardisation, a tied embedding
    used transposed, a LoRA product) passes the level to every parameter it
    came from; a parameter used at several levels keeps the lowest;
  * scanned-over (stacked) parameters get per-slice depths; parameters
    broadcast into a scan or loop body keep their first level;
  * a vmapped (ensembled) leaf is one op, hence one depth.

  Depth ranks are the dense ranks of the levels.

  Args:
    fn: the forward function, ``fn(params, *args, **kwargs)``.
    params: its parameter tree (arrays or ``jax.ShapeDtypeStruct``).
    *args: example inputs.
    **kwargs: keyword inputs of ``fn``.

  Returns:
    A :class:`Depths` keyed by the canonical paths of ``params``.

  Raises:
    NotImplementedError: for a higher-order primitive the walk cannot follow.
    ValueError: if no parameter meets the data.

  Example:
    >>> import jax, jax.numpy as jnp, lerac_jax
    >>> def mlp(p, x):
    ...   h = jax.nn.relu(x @ p['w1'] + p['b1'])
    ...   return h @ p['w2']
    >>> p = {'w1': jnp.ones((4, 8)), 'b1': jnp.ones(8), 'w2': jnp.ones((8, 2))}
    >>> dict(lerac_jax.depths_from_fn(mlp, p, jnp.ones((1, 4))).table)
    {'b1': 0, 'w1': 0, 'w2': 1}

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024 (depth ``j`` of
    Eq. 8).
  """
  return discover(lambda p, _, *a, **kw: fn(p, *a, **kw), params, (), args,
                  kwargs)
