"""The primitive table: every layout JAX has used, and refusals that help.

Layouts newer than the installed JAX are tested on equations rewritten into
the layout JAX's own source defines: scan's ``ft_in`` flat tree (jax 0.11:
``jax/_src/lax/control_flow/loops.py``, ``_scan_impl(*args, reverse, length,
ft_in, ft_out, jaxpr, unroll)``) and the hijax scan (``Scan3``, bound as
``call_hi_primitive`` with ``_prim.params`` holding one ``extensives`` bit
per input and the carries held in references).
"""

import flax.linen as nn
import jax
import jax.extend.core as jex
import jax.numpy as jnp
import pytest

import lerac_jax
from lerac_jax.depths import dataflow
from lerac_jax.depths import primitives

X = jnp.ones((2, 8))


class Layer(nn.Module):

  @nn.compact
  def __call__(self, h, _):
    return jnp.tanh(nn.Dense(8, name="dense")(h)), None


class ScannedMLP(nn.Module):
  """Four scanned layers (a carry over stacked kernels) and a head."""

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="stem")(x)
    x, _ = nn.scan(Layer, variable_axes={"params": 0},
                   split_rngs={"params": True}, length=4)(name="layers")(
                       x, None)
    return nn.Dense(2, name="head")(x)


class _FlatTree:
  """Stands in for ``jax._src.flattree.FlatTree``: ``unpack`` and ``len``."""

  def __init__(self, *sizes):
    self.parts = tuple(tuple(range(n)) for n in sizes)

  def unpack(self):
    return self.parts


def _to_ft_layout(eqn):
  p = dict(eqn.params)
  nc, ncar = p.pop("num_consts"), p.pop("num_carry")
  p.pop("linear", None)
  p.pop("_split_transpose", None)
  n = len(eqn.invars)
  p["ft_in"] = _FlatTree(nc, ncar, n - nc - ncar)
  p["ft_out"] = _FlatTree(ncar, len(eqn.outvars) - ncar)
  return eqn.replace(params=p)


def _rewrite(closed, fn):
  """``closed`` with every scan equation (nested ones too) passed to fn."""
  def visit(jaxpr):
    eqns = []
    for eqn in jaxpr.eqns:
      params = {}
      for k, v in eqn.params.items():
        if isinstance(v, jex.ClosedJaxpr):
          v = jex.ClosedJaxpr(visit(v.jaxpr), v.consts)
        elif isinstance(v, jex.Jaxpr):
          v = visit(v)
        params[k] = v
      eqn = eqn.replace(params=params)
      eqns.append(fn(eqn) if eqn.primitive.name == "scan" else eqn)
    return jaxpr.replace(eqns=eqns)
  return jex.ClosedJaxpr(visit(closed.jaxpr), closed.consts)


def _traced_model(model, x):
  variables = model.init(jax.random.key(0), x)
  return dataflow.trace(lambda p, _, a: model.apply({"params": p}, a),
                        variables["params"], (), (x,))


def _levels(traced):
  prop = dataflow.propagate(traced)
  return prop.leaf_levels, prop.slice_levels, prop.stacks


def test_jax_0_11_scan_layout_gives_the_same_levels():
  traced = _traced_model(ScannedMLP(), X)
  rewritten = traced._replace(jaxpr=_rewrite(traced.jaxpr, _to_ft_layout))
  scans = [e for e in rewritten.jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
  assert scans and "num_consts" not in scans[0].params
  assert _levels(rewritten) == _levels(traced)
  # Per-slice levels 1..4 after the stem at 0... as ranks 1..4, head 5.
  _, slices, _ = _levels(rewritten)
  assert sorted(next(iter(slices.values())).values()) == [2, 3, 4, 5]


class _Scan3:
  """Stands in for ``jax._src.lax.control_flow.loops.Scan3``."""

  def __init__(self, **params):
    self.params = params


def _stacked_tanh(p, x):
  """The hijax scan's program: the carry lives in a reference."""
  ref = jax.new_ref(x @ p["stem"])

  def body(_, w):
    ref[...] = jnp.tanh(ref[...] @ w)
    return None, ()

  jax.lax.scan(body, None, p["layers"])
  return ref[...] @ p["head"]


def _to_scan3(eqn):
  p = eqn.params
  nc, ncar = p["num_consts"], p["num_carry"]
  assert ncar == 0  # the hijax scan has no carry operands
  n = len(eqn.invars)
  prim = _Scan3(extensives=[False] * nc + [True] * (n - nc),
                length=p["length"], jaxpr=p["jaxpr"].jaxpr,
                reverse=p["reverse"], unroll=1)
  hi = jex.Primitive("call_hi_primitive")
  hi.multiple_results = True
  return eqn.replace(primitive=hi, params={"_prim": prim})


STACK = {"stem": jnp.ones((4, 8)), "layers": jnp.ones((3, 8, 8)),
         "head": jnp.ones((8, 2))}


def test_hijax_scan_with_reference_carries_is_followed():
  traced = dataflow.trace(lambda p, _, a: _stacked_tanh(p, a), STACK, (),
                          (jnp.ones((2, 4)),))
  rewritten = traced._replace(jaxpr=_rewrite(traced.jaxpr, _to_scan3))
  hi = [e for e in rewritten.jaxpr.jaxpr.eqns
        if e.primitive.name == "call_hi_primitive"]
  assert len(hi) == 1
  s = primitives.structure(hi[0])
  assert s.ref_carry and not s.carry and len(s.xs) == 1
  leaf, slices, stacks = _levels(rewritten)
  names = dict(enumerate(traced.names))
  by_name = {names[i]: v for i, v in leaf.items()}
  layers = [k for k, n in names.items() if n == "layers"][0]
  assert by_name["stem"] == 1
  assert [slices[layers][s] for s in range(3)] == [2, 3, 4]
  assert by_name["head"] == 5
  assert stacks[layers] == (3, 0)


def test_a_reference_closed_over_by_a_scan_is_its_carry():
  t = dict(lerac_jax.depths_from_fn(_stacked_tanh, STACK,
                                    jnp.ones((2, 4))).table)
  assert t["stem"] == 0 and t["head"] == 4
  assert t["layers"] == lerac_jax.Stacked((1, 2, 3), 0)


def test_a_loop_that_writes_a_reference_it_does_not_carry_is_refused():
  def fn(p, x):
    ref = jax.new_ref(x)

    def body(i):
      ref[...] = jnp.tanh(ref[...] @ p)
      return i + 1

    jax.lax.while_loop(lambda i: i < 3, body, 0)
    return ref[...]
  with pytest.raises(NotImplementedError, match="writes to a reference"):
    lerac_jax.depths_from_fn(fn, jnp.ones((4, 4)), jnp.ones((2, 4)))


def test_references_in_straight_line_code_hold_what_was_written():
  def fn(p, x):
    ref = jax.new_ref(x)
    ref[...] = jnp.tanh(ref[...] @ p["a"])
    return ref[...] @ p["b"]
  p = {"a": jnp.ones((4, 4)), "b": jnp.ones((4, 2))}
  assert dict(lerac_jax.depths_from_fn(fn, p, jnp.ones((1, 4))).table) == {
      "a": 0, "b": 1}


def _eqn(name, params, n_in=1, n_out=1):
  """An equation of primitive ``name`` with ``params``, on scalar vars."""
  base = jax.make_jaxpr(lambda *a: jax.lax.optimization_barrier(a))(
      *[1.0] * max(n_in, n_out)).eqns[0]
  prim = jex.Primitive(name)
  prim.multiple_results = True
  return base.replace(primitive=prim, params=params,
                      invars=base.invars[:n_in], outvars=base.outvars[:n_out])


def test_unknown_higher_order_primitive_names_itself_jax_and_the_way_out():
  body = jax.make_jaxpr(jnp.sin)(1.0)
  with pytest.raises(primitives.UnsupportedPrimitiveError) as e:
    primitives.structure(_eqn("my_loop", {"body": body}))
  message = str(e.value)
  assert "'my_loop'" in message and jax.__version__ in message
  assert "depths_from_rules" in message
  assert isinstance(e.value, NotImplementedError)


@pytest.mark.parametrize("params", [
    {"jaxpr": None, "length": 3, "reverse": False},  # no role counts
    {"jaxpr": jax.make_jaxpr(jnp.sin)(1.0), "length": 3,
     "num_consts": 0},  # half a layout
])
def test_scan_in_an_unknown_layout_is_an_error_not_a_key_error(params):
  with pytest.raises(primitives.UnsupportedPrimitiveError,
                     match=r"'scan' under jax .* layout"):
    primitives.structure(_eqn("scan", params))


def test_roles_that_do_not_fit_the_body_are_refused():
  body = jax.make_jaxpr(lambda c, x: (c + x, c))(1.0, 1.0)
  params = {"jaxpr": body, "length": 3, "reverse": False,
            "num_consts": 2, "num_carry": 1}
  with pytest.raises(primitives.UnsupportedPrimitiveError,
                     match="2 consts and 1 carries for 2 body inputs"):
    primitives.structure(_eqn("scan", params, n_in=2, n_out=2))


def _every_primitive(w, x, idx):
  @jax.custom_jvp
  def f(a):
    return jnp.sin(a)
  f.defjvp(lambda p, t: (f(p[0]), t[0]))

  @jax.custom_vjp
  def g(a):
    return a * 2
  g.defvjp(lambda a: (a * 2, None), lambda _, c: (c * 2,))

  y = jax.jit(lambda a: a @ w)(x)
  y = jax.checkpoint(jnp.tanh)(y)
  y = f(y) + g(y)
  y = jax.lax.cond(x.sum() > 0, lambda a: a, lambda a: -a, y)
  y = jax.lax.scan(lambda c, r: (c + r, c), y[0], y)[1]
  y = jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1]),
                         (0, y))[1]
  z = jnp.zeros((5, 3)).at[idx].add(y[:2]) + jax.ops.segment_max(
      y[:2], idx, 5) + jnp.zeros((5, 3)).at[idx].mul(y[:2])
  r = jax.lax.reduce(y, 0.0, lambda a, b: a + b * 2, (0,))
  y, w2 = jax.lax.optimization_barrier((y, w))
  return z, r, y @ w2, jnp.sort(y, axis=0), jnp.argsort(y[:, 0])


def test_every_primitive_of_the_installed_jax_has_a_structure():
  jaxpr = jax.make_jaxpr(_every_primitive)(
      jnp.ones((3, 3)), jnp.ones((2, 3)), jnp.array([0, 1]))
  seen = set()

  def visit(j):
    for eqn in j.eqns:
      seen.add(type(primitives.structure(eqn)).__name__)
      for v in eqn.params.values():
        for x in (v if isinstance(v, (tuple, list)) else (v,)):
          if isinstance(x, jex.ClosedJaxpr):
            visit(x.jaxpr)
          elif isinstance(x, jex.Jaxpr):
            visit(x)

  visit(jaxpr.jaxpr)
  assert {"Call", "Branches", "Loop", "WhileLoop", "Contraction",
          "PerOperand", "FirstOrder"} <= seen


def test_scatter_combiners_are_first_order():
  def fn(p, x, senders):
    messages = jnp.tanh(x @ p["edge"])
    nodes = jax.ops.segment_sum(messages, senders, 4)
    nodes = nodes + jnp.zeros((4, 8)).at[senders].max(messages)
    return nodes @ p["node"]
  p = {"edge": jnp.ones((3, 8)), "node": jnp.ones((8, 2))}
  d = lerac_jax.depths_from_fn(fn, p, jnp.ones((5, 3)),
                               jnp.array([0, 1, 1, 2, 3]))
  assert dict(d.table) == {"edge": 0, "node": 1}


def _to_old_names(eqn):
  """jit as ``pjit`` (jax < 0.7), custom_vjp as ``custom_vjp_call_jaxpr``."""
  name, p = eqn.primitive.name, dict(eqn.params)
  if name == "jit":
    prim = jex.Primitive("pjit")
  elif name == "custom_vjp_call":
    prim = jex.Primitive("custom_vjp_call_jaxpr")
    p["fun_jaxpr"] = p.pop("call_jaxpr")
  else:
    return eqn
  prim.multiple_results = True
  return eqn.replace(primitive=prim, params=p)


def test_jit_and_custom_vjp_in_their_older_layouts():
  @jax.custom_vjp
  def double(a):
    return a * 2
  double.defvjp(lambda a: (a * 2, None), lambda _, c: (c * 2,))

  def fn(p, _, x):
    h = jax.jit(lambda a: jnp.tanh(a @ p["a"]))(x)
    return double(h) @ p["b"]

  p = {"a": jnp.ones((4, 4)), "b": jnp.ones((4, 2))}
  traced = dataflow.trace(fn, p, (), (jnp.ones((1, 4)),))
  old = jex.ClosedJaxpr(traced.jaxpr.jaxpr.replace(eqns=[
      _to_old_names(e) for e in traced.jaxpr.jaxpr.eqns]), traced.jaxpr.consts)
  names = {e.primitive.name for e in old.jaxpr.eqns}
  assert {"pjit", "custom_vjp_call_jaxpr"} <= names
  assert _levels(traced._replace(jaxpr=old)) == _levels(traced)
  assert _levels(traced)[0] == {0: 1, 1: 2}
