# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Everything the library knows about JAX primitives, in one table.

The depth walk (:mod:`lerac_jax.depths.dataflow`) and the SNR probe
(:mod:`lerac_jax.calibrate`) interpret jaxprs. Neither reads ``eqn.params``:
both ask :func:`structure`, which looks the primitive up in :data:`RULES` and
calls its rule with the equation's params as keyword arguments, as JAX keys
its own rules (``ad.primitive_jvps``). A renamed or removed param therefore
fails here, in one place, with a message that names the primitive, the
installed JAX and the way around it.

A rule returns one of these structures:

* :class:`Call`: a body whose inputs and outputs are the equation's (jit,
  ``closed_call``, remat, ``custom_jvp``/``custom_vjp``, ``shard_map``);
* :class:`Branches`: ``cond``/``switch``; input 0 picks a branch;
* :class:`Loop`: ``scan``; each input is a const, a carry or an extensive
  input, body outputs are the new carries then the per-step outputs;
* :class:`WhileLoop`: ``while``;
* :class:`Contraction`, :class:`Lookup`, :class:`View`, :class:`Scale`,
  :class:`PerOperand`: first-order ops the walk treats specially;
* :class:`FirstOrder`: every other op, including those that carry a jaxpr
  they never call on the data flow (scatter combiners, ``reduce`` and
  ``reduce_window`` with a custom computation). ``sort`` carries no jaxpr:
  its comparator is built at lowering time.

Parameter layouts, read from JAX's source at the release tags:

=================  =====================================================
``scan``           ``num_consts``/``num_carry`` (jax <= 0.10); ``ft_in``,
                   a flat tree of (consts, carry, xs) (jax >= 0.11)
hijax ``scan``     ``call_hi_primitive`` with ``_prim.params['extensives']``,
                   one bit per input (``jax_scan3``, jax >= 0.11)
``while``          ``cond_jaxpr``, ``body_jaxpr``, ``cond_nconsts``,
                   ``body_nconsts`` (unchanged since 0.4.30)
``cond``           ``branches`` (``linear`` too until 0.4.34)
jit                ``pjit`` (< 0.7) or ``jit`` (>= 0.7), ``jaxpr``
remat              ``remat2``/``checkpoint``, ``jaxpr`` (open)
``custom_vjp``     ``custom_vjp_call_jaxpr`` with ``fun_jaxpr`` (< 0.7),
                   ``custom_vjp_call`` with ``call_jaxpr`` (>= 0.7)
=================  =====================================================

An unknown primitive that carries a jaxpr, or a known one whose params are
in a layout no rule reads, raises :class:`UnsupportedPrimitiveError` (a
``NotImplementedError``): guessing how data flows through a body could give
a silently wrong curriculum.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from lerac_jax.depths import primitives
  >>> jaxpr = jax.make_jaxpr(lambda c, xs: jax.lax.scan(
  ...     lambda c, x: (c + x, c), c, xs))(0.0, jnp.ones(3))
  >>> s = primitives.structure(jaxpr.eqns[0])
  >>> type(s).__name__, s.consts, s.carry, s.xs, s.length
  ('Loop', (), (0,), (1,), 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.extend.core as jex


class Call(NamedTuple):
  """A body called once on the equation's inputs, giving its outputs.

  Attributes:
    jaxpr: the body (an open ``jax.extend.core.Jaxpr``).
    consts: values of the body's constvars.
    inlinable: whether the body may be evaluated outside the primitive (not
      for ``shard_map``/``pmap`` bodies, which hold collectives).
  """

  jaxpr: Any
  consts: Sequence[Any] = ()
  inlinable: bool = True


class Branches(NamedTuple):
  """``cond``/``switch``: input 0 picks one of the bodies; the rest feed it."""

  jaxprs: tuple[Any, ...]


class Loop(NamedTuple):
  """``scan``: the body runs ``length`` times.

  The body's inputs are the equation's inputs in order; ``consts``,
  ``carry``, ``xs`` and ``ref_carry`` hold their positions. The body's
  outputs are the new carries (in the order of ``carry``) and then the
  per-step outputs. ``ref_carry`` are references the body reads and writes:
  carries held in references (a scan closing over ``jax.new_ref``; the
  hijax scan has no other carries).
  """

  jaxpr: Any
  consts: tuple[int, ...]
  carry: tuple[int, ...]
  xs: tuple[int, ...]
  length: int
  reverse: bool
  ref_carry: tuple[int, ...] = ()


class WhileLoop(NamedTuple):
  """``while``: inputs are cond consts, body consts, then the carries."""

  cond: Any
  body: Any
  cond_consts: int
  body_consts: int


class Contraction(NamedTuple):
  """``dot_general``-like: operands 0 and 1 are contracted.

  Attributes:
    contracting: the contracted axes of operands 0 and 1, if known.
    batch: their batch axes, if known.
  """

  contracting: tuple[tuple[int, ...], tuple[int, ...]] | None = None
  batch: tuple[tuple[int, ...], tuple[int, ...]] | None = None


class Lookup(NamedTuple):
  """``gather``/``dynamic_slice``: operand 0 read at data-given indices."""


class View(NamedTuple):
  """The same values in another layout.

  Attributes:
    permutation: the axis permutation of a transpose.
    same_axes: whether every output axis is the input axis of the same
      position (a dtype change, a copy), so a layer axis can be followed.
  """

  permutation: tuple[int, ...] | None = None
  same_axes: bool = True


class Scale(NamedTuple):
  """``mul``/``div``/``neg``: by a constant, a value stays what it is."""


class PerOperand(NamedTuple):
  """Output ``i`` depends on input ``i`` only (``optimization_barrier``)."""


class RefRead(NamedTuple):
  """``get``: reads the value a reference (operand 0) holds."""


class RefWrite(NamedTuple):
  """``swap``/``addupdate``: operand 1 is written into reference 0.

  Attributes:
    returns_old: whether the single output is the value overwritten.
  """

  returns_old: bool


class FirstOrder(NamedTuple):
  """Any other op: each output depends on every input."""


Structure = Any  # one of the NamedTuples above
RULES: dict[str, Callable[..., Structure]] = {}
_FIRST_ORDER = FirstOrder()


class UnsupportedPrimitiveError(NotImplementedError):
  """A primitive, or a parameter layout of one, that the walk cannot follow."""


def _error(name: str, detail: str) -> UnsupportedPrimitiveError:
  return UnsupportedPrimitiveError(
      f"The depth walk cannot follow the primitive {name!r} under jax "
      f"{jax.__version__}: {detail}. Give the depths another way: "
      "lerac_jax.depths_from_rules(params, [(regex, depth), ...]) or by hand "
      "({'stem': 0, 'blocks': 1, ...}); and please report the primitive and "
      "the JAX version.")


def register(*names: str):
  """Registers a rule ``rule(**eqn.params) -> structure`` for ``names``."""
  def wrap(rule):
    for name in names:
      RULES[name] = rule
    return rule
  return wrap


def _open(obj) -> tuple[Any, Sequence[Any]]:
  """(open jaxpr, consts) of a ``ClosedJaxpr`` or an open ``Jaxpr``."""
  if isinstance(obj, jex.ClosedJaxpr):
    return obj.jaxpr, obj.consts
  if isinstance(obj, jex.Jaxpr):
    return obj, ()
  raise TypeError(f"expected a jaxpr, got {type(obj).__name__}")


def _holds_jaxpr(params) -> bool:
  for v in params.values():
    for x in (v if isinstance(v, (tuple, list)) else (v,)):
      if isinstance(x, (jex.ClosedJaxpr, jex.Jaxpr)):
        return True
  return False


def structure(eqn) -> Structure:
  """How data flows through one equation (see the module docstring).

  Args:
    eqn: a ``jax.extend.core.JaxprEqn``.

  Returns:
    A :class:`Call`, :class:`Branches`, :class:`Loop`, :class:`WhileLoop`,
    :class:`Contraction`, :class:`Lookup`, :class:`View`,
    :class:`PerOperand` or :class:`FirstOrder`.

  Raises:
    UnsupportedPrimitiveError: for an unknown primitive that carries a jaxpr,
      or a known one whose params are in a layout no rule reads.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from lerac_jax.depths import primitives
    >>> a, b = jnp.ones((2, 3)), jnp.ones(3)
    >>> eqn = jax.make_jaxpr(jax.lax.dot)(a, b).eqns[0]
    >>> primitives.structure(eqn)
    Contraction(contracting=((1,), (0,)), batch=((), ()))

  References:
    The JAX authors, "Autodidax: JAX core from scratch" (interpreters keyed
    per primitive), https://docs.jax.dev/en/latest/autodidax.html.
  """
  name = eqn.primitive.name
  rule = RULES.get(name)
  if rule is None:
    if _holds_jaxpr(eqn.params):
      raise _error(name, "it is a higher-order primitive (it carries a "
                   "jaxpr) that the walk does not know")
    return _FIRST_ORDER
  try:
    got = rule(**eqn.params)
  except (TypeError, KeyError, AttributeError, ValueError) as e:
    raise _error(name, f"its parameters {sorted(eqn.params)} are in a "
                 f"layout the walk does not read ({e})") from e
  n_in, n_out = len(eqn.invars), len(eqn.outvars)
  problem = _arity_problem(got, n_in, n_out)
  if problem:
    raise _error(name, problem)
  return got


def _arity_problem(s, n_in: int, n_out: int) -> str | None:
  """Why ``s`` does not fit an equation with these counts, or None."""
  def count(jaxpr, want_in, want_out, what):
    if len(jaxpr.invars) != want_in or len(jaxpr.outvars) != want_out:
      return (f"its {what} has {len(jaxpr.invars)} inputs and "
              f"{len(jaxpr.outvars)} outputs for {want_in} operands and "
              f"{want_out} results")
    return None
  if isinstance(s, Call):
    return count(s.jaxpr, n_in, n_out, "body")
  if isinstance(s, Branches):
    for b in s.jaxprs:
      problem = count(b, n_in - 1, n_out, "branch")
      if problem:
        return problem
  if isinstance(s, Loop):
    roles = sorted(s.consts + s.carry + s.xs + s.ref_carry)
    if roles != list(range(n_in)):
      return "its inputs are not each one of const, carry or extensive"
    return count(s.jaxpr, n_in, n_out, "scan body")
  if isinstance(s, WhileLoop):
    n_carry = n_in - s.cond_consts - s.body_consts
    return (count(s.cond, s.cond_consts + n_carry, 1, "loop condition") or
            count(s.body, s.body_consts + n_carry, n_carry, "loop body"))
  if isinstance(s, PerOperand) and n_in != n_out:
    return f"it has {n_in} operands but {n_out} results"
  return None


# ---------------------------------------------------------------------------
# Higher-order primitives.
# ---------------------------------------------------------------------------


@register("pjit", "jit")
def _jit(*, jaxpr, **_):
  body, consts = _open(jaxpr)
  return Call(body, consts)


@register("closed_call", "core_call", "remat2", "checkpoint")
def _call(*, jaxpr=None, call_jaxpr=None, **_):
  got = call_jaxpr if jaxpr is None else jaxpr
  if got is None:
    raise KeyError("jaxpr")
  body, consts = _open(got)
  return Call(body, consts)


@register("custom_jvp_call", "custom_jvp_call_jaxpr")
def _custom_jvp(*, call_jaxpr=None, fun_jaxpr=None, **_):
  # The primal body; num_consts counts leading inputs that are also its
  # leading inputs, so they need no remapping.
  got = call_jaxpr if call_jaxpr is not None else fun_jaxpr
  if got is None:
    raise KeyError("call_jaxpr")
  body, consts = _open(got)
  return Call(body, consts)


@register("custom_vjp_call", "custom_vjp_call_jaxpr")
def _custom_vjp(*, call_jaxpr=None, fun_jaxpr=None, **_):
  got = call_jaxpr if call_jaxpr is not None else fun_jaxpr
  if got is None:
    raise KeyError("call_jaxpr")
  body, consts = _open(got)
  return Call(body, consts)


@register("shard_map", "xla_pmap")
def _mapped(*, jaxpr=None, call_jaxpr=None, **_):
  got = jaxpr if jaxpr is not None else call_jaxpr
  if got is None:
    raise KeyError("jaxpr")
  body, consts = _open(got)
  return Call(body, consts, inlinable=False)


@register("cond")
def _cond(*, branches, **_):
  return Branches(tuple(_open(b)[0] for b in branches))


@register("while")
def _while(*, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, **_):
  return WhileLoop(_open(cond_jaxpr)[0], _open(body_jaxpr)[0],
                   int(cond_nconsts), int(body_nconsts))


def _is_ref(var) -> bool:
  return "Ref" in type(getattr(var, "aval", None)).__name__


def _loop(body, n_consts: int, n_carry: int, length, reverse) -> Loop:
  n = len(body.invars)
  if n_consts < 0 or n_carry < 0 or n_consts + n_carry > n:
    raise ValueError(f"{n_consts} consts and {n_carry} carries for {n} "
                     "body inputs")
  refs = {i for i in range(n_consts) if _is_ref(body.invars[i])}
  return Loop(body, tuple(i for i in range(n_consts) if i not in refs),
              tuple(range(n_consts, n_consts + n_carry)),
              tuple(range(n_consts + n_carry, n)), int(length), bool(reverse),
              ref_carry=tuple(sorted(refs)))


@register("scan")
def _scan(*, jaxpr, length, reverse=False, num_consts=None, num_carry=None,
          ft_in=None, **_):
  body, _ = _open(jaxpr)  # constants closed over carry no data
  if num_consts is not None and num_carry is not None:  # jax <= 0.10
    return _loop(body, num_consts, num_carry, length, reverse)
  if ft_in is not None:  # jax >= 0.11: a flat tree (consts, carry, xs)
    parts = ft_in.unpack()
    if len(parts) != 3:
      raise ValueError(f"ft_in unpacks into {len(parts)} parts, not 3")
    n_consts, n_carry, _ = (len(p) for p in parts)
    return _loop(body, n_consts, n_carry, length, reverse)
  raise KeyError("num_consts/num_carry or ft_in")


@register("call_hi_primitive")
def _call_hi(*, _prim, **_):
  """A hijax primitive; the scan of ``jax_scan3`` is the one known."""
  p = getattr(_prim, "params", None) or {}
  if "extensives" not in p:
    raise ValueError(f"the hijax primitive {type(_prim).__name__} is not a "
                     "scan")
  body, _ = _open(p["jaxpr"])
  extensive = [bool(e) for e in p["extensives"]]
  if len(extensive) != len(body.invars):
    raise ValueError("the scan's extensives do not match its body")
  refs = [_is_ref(v) for v in body.invars]
  if any(r and e for r, e in zip(refs, extensive)):
    raise ValueError("an extensive input is a reference")
  # A reference broadcast into the body is its carry: the body reads the
  # last step's value from it and writes the next one.
  return Loop(body, tuple(i for i, e in enumerate(extensive)
                          if not e and not refs[i]), (),
              tuple(i for i, e in enumerate(extensive) if e),
              int(p["length"]), bool(p.get("reverse", False)),
              ref_carry=tuple(i for i, r in enumerate(refs) if r))


# ---------------------------------------------------------------------------
# First-order primitives the walk treats specially, and those that carry a
# jaxpr they never call on the data flow.
# ---------------------------------------------------------------------------


@register("dot_general")
def _dot_general(*, dimension_numbers, **_):
  (lhs, rhs), (lhs_batch, rhs_batch) = dimension_numbers
  return Contraction((tuple(lhs), tuple(rhs)),
                     (tuple(lhs_batch), tuple(rhs_batch)))


@register("conv_general_dilated", "ragged_dot", "ragged_dot_general")
def _contraction(**_):
  return Contraction()


@register("gather", "dynamic_slice")
def _lookup(**_):
  return Lookup()


@register("transpose")
def _transpose(*, permutation, **_):
  return View(tuple(permutation))


@register("convert_element_type", "copy", "copy_p")
def _view(**_):
  return View()


@register("reshape", "squeeze", "expand_dims", "broadcast_in_dim")
def _reshape(**_):
  return View(same_axes=False)


@register("mul", "div", "neg")
def _scale(**_):
  return Scale()


@register("get")
def _get(**_):
  return RefRead()


@register("swap")
def _swap(**_):
  return RefWrite(returns_old=True)


@register("addupdate")
def _addupdate(**_):
  return RefWrite(returns_old=False)


@register("optimization_barrier", "psum", "pmax", "pmin", "pvary",
          "pbroadcast")
def _per_operand(**_):
  return PerOperand()


@register("scatter", "scatter-add", "scatter_add", "scatter-mul",
          "scatter_mul", "scatter-min", "scatter_min", "scatter-max",
          "scatter_max", "scatter-sub", "scatter_sub", "scatter-apply",
          "reduce", "reduce_window", "select_and_scatter",
          "select_and_scatter_add", "argsort", "sort")
def _combiner(**_):
  # The jaxpr (update_jaxpr, computation) combines two scalars inside the
  # op; data flows from every operand to the result as for any other op.
  return _FIRST_ORDER


# ---------------------------------------------------------------------------
# Evaluating one equation.
# ---------------------------------------------------------------------------


def bind(eqn, values: Sequence[Any]) -> list[Any]:
  """Applies one equation's primitive to values, as ``eval_jaxpr`` does.

  Args:
    eqn: a ``jax.extend.core.JaxprEqn``.
    values: one array per input of ``eqn``.

  Returns:
    The list of its outputs.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from lerac_jax.depths import primitives
    >>> eqn = jax.make_jaxpr(jnp.sin)(1.0).eqns[0]
    >>> [float(v) for v in primitives.bind(eqn, [jnp.float32(0.0)])]
    [0.0]
  """
  params = eqn.primitive.get_bind_params(eqn.params)
  subfuns = ()
  if isinstance(params, tuple):  # (subfuns, params) for call primitives
    subfuns, params = params
  with eqn.ctx.manager:
    out = eqn.primitive.bind(*subfuns, *values, **params)
  return list(out) if eqn.primitive.multiple_results else [out]
