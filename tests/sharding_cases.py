# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""8-device sharding cases, run by ``test_sharding.py`` in a child process.

XLA fixes the number of CPU devices when its backend starts, so these cases
need a process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``. Run them directly with

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m pytest tests/sharding_cases.py
"""

from __future__ import annotations

from flax import nnx
import flax.linen as nn
from flax.training import train_state
import jax
from jax.sharding import AxisType
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax
from tests import scale_helpers as h

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8,
    reason="needs 8 devices; test_sharding.py runs this file in a child "
    "process with XLA_FLAGS=--xla_force_host_platform_device_count=8",
)

# Data parallel over 'data' (2) x fully sharded over 'fsdp' (4): the batch is
# split over all 8 devices, each parameter over the 4 'fsdp' devices.
MESH_SHAPE = (2, 4)
MESH_AXES = ("data", "fsdp")


def fsdp_mesh(axis_type=AxisType.Auto):
  return jax.make_mesh(MESH_SHAPE, MESH_AXES, axis_types=(axis_type,) * 2)


def fsdp_spec(leaf) -> P:
  # Shard every parameter's first axis (all divide by 4).
  return P("fsdp", *([None] * (leaf.ndim - 1)))


def state_shardings(tx, params, param_shardings, mesh):
  """Optimizer-state shardings: moments follow params, the rest replicated."""
  abstract = jax.eval_shape(tx.init, params)
  replicated = NamedSharding(mesh, P())
  return optax.tree.map_params(
      tx, lambda _, s: s, abstract, param_shardings,
      transform_non_params=lambda _: replicated)


def test_eight_devices():
  assert jax.device_count() == 8
  assert jax.devices()[0].platform == "cpu"


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_fsdp_training_matches_single_device(optimizer):
  mesh = fsdp_mesh()
  tx = h.make_tx(optimizer)
  params = h.init_params()
  p_sh = jax.tree.map(lambda p: NamedSharding(mesh, fsdp_spec(p)), params)
  s_sh = state_shardings(tx, params, p_sh, mesh)
  b_sh = NamedSharding(mesh, P(MESH_AXES))
  params = jax.device_put(params, p_sh)
  opt_state = jax.jit(tx.init, out_shardings=s_sh)(params)
  step = jax.jit(h.train_step(tx), in_shardings=(p_sh, s_sh, b_sh, b_sh),
                 out_shardings=(p_sh, s_sh))
  x, y = h.batches()
  for t in range(h.STEPS):
    params, opt_state = step(params, opt_state, x[t], y[t])

  # The curriculum ran to its end, identically to one device.
  ref_params, ref_state = h.reference_run(optimizer=optimizer)
  count = opt_state[1].count
  assert int(count) == h.STEPS == int(ref_state[1].count)
  np.testing.assert_allclose(
      lerac_jax.current_scales(opt_state), 1.0)
  for path, p in h.flat_dict(params).items():
    np.testing.assert_allclose(p, h.flat_dict(ref_params)[path], atol=1e-5,
                               rtol=1e-5, err_msg=path)

  # The count is replicated; every parameter kept its FSDP sharding.
  assert count.sharding.is_fully_replicated
  assert count.sharding.spec == P()
  for p, s in zip(jax.tree.leaves(params), jax.tree.leaves(p_sh)):
    assert p.sharding == s
    assert not p.sharding.is_fully_replicated


def test_fsdp_updates_keep_parameter_sharding():
  mesh = fsdp_mesh()
  tx = h.make_tx("adamw")
  params = h.init_params()
  p_sh = jax.tree.map(lambda p: NamedSharding(mesh, fsdp_spec(p)), params)
  params = jax.device_put(params, p_sh)
  opt_state = jax.jit(tx.init)(params)
  x, y = h.batches(1)
  grads = jax.jit(jax.grad(h.loss_fn), out_shardings=p_sh)(params, x[0], y[0])
  # No out_shardings: what comes out is what propagation gives each update.
  updates, new_state = jax.jit(tx.update)(grads, opt_state, params)
  for path, (u, p) in zip(
      h.flat_dict(params),
      zip(jax.tree.leaves(updates), jax.tree.leaves(params))):
    assert u.sharding.is_equivalent_to(p.sharding, p.ndim), path
    assert u.dtype == p.dtype and u.shape == p.shape, path
  assert new_state[1].count.sharding.is_fully_replicated
  # Moments are sharded like their parameter, not gathered.
  for mu, p in zip(jax.tree.leaves(new_state[0][0].mu),
                   jax.tree.leaves(params)):
    assert mu.sharding.is_equivalent_to(p.sharding, p.ndim)


# Leaves in float32, bfloat16 and float16; stacked leaves sharded along a
# non-layer axis and along the layer axis.
EXPLICIT_CASES = {
    "f32_kernel": ((16, 8), jnp.float32, P(None, "x"), 0),
    "bf16_kernel": ((8, 16), jnp.bfloat16, P("x"), 1),
    "f16_stacked": ((4, 8, 4), jnp.float16, P(None, "x"),
                    lerac_jax.Stacked((1, 2, 3, 4))),
    # Sharded along its layer axis itself (pipeline-style).
    "f32_stacked_on_layer_axis": ((8, 4, 2), jnp.float32, P("x"),
                                  lerac_jax.Stacked(tuple(range(8)))),
}


def _explicit_params():
  mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Explicit,))
  with jax.set_mesh(mesh):
    params = {
        name: jnp.ones(shape, dtype, out_sharding=NamedSharding(mesh, spec))
        for name, (shape, dtype, spec, _) in EXPLICIT_CASES.items()
    }
  depths = {name: d for name, (*_, d) in EXPLICIT_CASES.items()}
  return mesh, params, depths


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("base", ["sgd", "adam", "adafactor"])
def test_explicit_sharding_types_are_stable(base, jit):
  """optax's own check: jax.typeof of state and updates never changes."""
  mesh, params, depths = _explicit_params()
  optimizer = {"sgd": optax.sgd(0.1, momentum=0.9), "adam": optax.adam(0.1),
               "adafactor": optax.adafactor(0.1)}[base]
  tx = lerac_jax.lerac(optimizer, depths, curriculum_steps=4, min_scale=1e-2)
  maybe_jit = jax.jit if jit else (lambda f: f)
  with jax.set_mesh(mesh):
    state0 = tx.init(params)
    state1 = maybe_jit(tx.init)(params)
    updates, state2 = maybe_jit(tx.update)(params, state1, params)
    _, state3 = maybe_jit(tx.update)(updates, state2, params)
  types = [jax.tree.map(jax.typeof, s) for s in (state0, state1, state2,
                                                 state3)]
  for t in types[1:]:
    assert t == types[0]
  for name in params:
    assert jax.typeof(updates[name]) == jax.typeof(params[name]), name
  count_type = jax.typeof(state3[1].count)
  assert count_type.shape == () and count_type.dtype == jnp.int32
  assert count_type.sharding.spec == P()
  # The per-slice multipliers reached the stacked slices (1 is depth 0).
  ups = np.asarray(updates["f16_stacked"], np.float32)[:, 0, 0]
  scales = np.asarray(lerac_jax.current_scales(state1))
  assert np.all(np.diff(np.abs(ups)) < 0)
  np.testing.assert_allclose(ups / ups[0], scales[1:5] / scales[1], rtol=1e-2)
  ups = np.asarray(updates["f32_stacked_on_layer_axis"])[:, 0, 0]
  np.testing.assert_allclose(ups / ups[0], scales / scales[0], rtol=1e-5)


def test_abstract_init_of_sharded_params():
  mesh, params, depths = _explicit_params()
  tx = lerac_jax.lerac(optax.adam(0.1), depths, curriculum_steps=4)
  abstract = jax.tree.map(
      lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype, sharding=p.sharding),
      params)
  state = jax.eval_shape(tx.init, abstract)
  assert state[1].count.shape == () and state[1].count.dtype == jnp.int32
  def padded(spec, ndim):
    return tuple(spec) + (None,) * (ndim - len(spec))

  for name, p in params.items():  # moments keep their parameter's sharding
    mu = state[0][0].mu[name]
    assert padded(mu.sharding.spec, p.ndim) == padded(p.sharding.spec, p.ndim)
  # The lerac building block alone needs no arrays at all.
  assert lerac_jax.scale_by_lerac(depths, curriculum_steps=4).init(
      abstract).count.shape == ()


# ---------------------------------------------------------------------------
# Flax logical partitioning: the lm1b flow.
# ---------------------------------------------------------------------------

LOGICAL_RULES = (("batch", MESH_AXES), ("embed", "fsdp"), ("mlp", None),
                 ("classes", None))


def _dense(features, axes, name):
  return nn.Dense(
      features, name=name,
      kernel_init=nn.with_logical_partitioning(
          nn.initializers.lecun_normal(), axes),
      bias_init=nn.with_logical_partitioning(
          nn.initializers.zeros_init(), axes[-1:]))


class LogicalMLP(nn.Module):
  """:class:`scale_helpers.MLP` with logical axis names on every param."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(_dense(h.WIDTH, ("embed", "mlp"), "stem")(x))
    x = nn.relu(_dense(h.WIDTH, ("mlp", "embed"), "mid")(x))
    return _dense(h.CLASSES, ("embed", "classes"), "head")(x)


def test_logical_partitioning_lm1b_flow():
  mesh = fsdp_mesh()
  model = LogicalMLP()
  depths = lerac_jax.depths_from_model(model, h.sample_input())
  assert depths.table == h.depths().table
  tx = lerac_jax.lerac(optax.sgd(0.1, momentum=0.9), depths, **h.LERAC_KW)

  def init_state(rng):
    variables = model.init(rng, jnp.zeros((1, h.FEATURES)))
    return train_state.TrainState.create(
        apply_fn=model.apply, params=variables["params"], tx=tx)

  # eval_shape -> get_partition_spec -> logical_to_mesh_sharding -> jit(init).
  abstract = jax.eval_shape(init_state, jax.random.key(0))
  logical = nn.get_partition_spec(abstract)
  lerac_spec = logical.opt_state[1]
  assert isinstance(lerac_spec, lerac_jax.LeracState)
  assert lerac_spec.count == P()
  assert logical.params["stem"]["kernel"] == P("embed", "mlp")
  assert logical.opt_state[0][0].trace["mid"]["kernel"] == P("mlp", "embed")
  shardings = nn.logical_to_mesh_sharding(logical, mesh, LOGICAL_RULES)
  assert shardings.opt_state[1].count.spec == P()
  state = jax.jit(init_state, out_shardings=shardings)(jax.random.key(0))
  state = nn.meta.unbox(state)
  shardings = nn.meta.unbox(shardings)

  def loss(params, x, y):
    logits = state.apply_fn({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def step(state, x, y):
    # TrainState.apply_gradients passes no extra args to tx.update.
    return state.apply_gradients(grads=jax.grad(loss)(state.params, x, y))

  b_sh = NamedSharding(mesh, P(MESH_AXES))
  step = jax.jit(step, in_shardings=(shardings, b_sh, b_sh),
                 out_shardings=shardings)
  x, y = h.batches()
  for t in range(h.STEPS):
    state = step(state, x[t], y[t])
  assert int(state.opt_state[1].count) == h.STEPS
  assert state.opt_state[1].count.sharding.is_fully_replicated
  assert state.params["mid"]["kernel"].sharding.spec == P(None, "fsdp")
  ref_params, _ = h.reference_run()
  for path, p in h.flat_dict(state.params).items():
    np.testing.assert_allclose(p, h.flat_dict(ref_params)[path], atol=1e-5,
                               rtol=1e-5, err_msg=path)


# ---------------------------------------------------------------------------
# NNX: sharding metadata on Variables, nnx.Optimizer.
# ---------------------------------------------------------------------------


def _nnx_linear(features_in, features_out, rngs):
  return nnx.Linear(
      features_in, features_out, rngs=rngs,
      kernel_init=nnx.with_partitioning(nnx.initializers.lecun_normal(),
                                        ("fsdp", None)),
      bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(),
                                      ("fsdp",)))


class ShardedNNXMLP(nnx.Module):
  """:class:`scale_helpers.MLP` in NNX with FSDP sharding metadata."""

  def __init__(self, rngs):
    self.stem = _nnx_linear(h.FEATURES, h.WIDTH, rngs)
    self.mid = _nnx_linear(h.WIDTH, h.WIDTH, rngs)
    self.head = _nnx_linear(h.WIDTH, h.CLASSES, rngs)

  def __call__(self, x):
    return self.head(nnx.relu(self.mid(nnx.relu(self.stem(x)))))


def test_nnx_optimizer_with_sharding_metadata():
  mesh = fsdp_mesh()
  with jax.set_mesh(mesh):  # NNX shards each Variable as it is created
    depths = lerac_jax.depths_from_model(
        nnx.eval_shape(lambda: ShardedNNXMLP(nnx.Rngs(0))), h.sample_input())
    assert depths.table == h.depths().table  # same paths as the linen MLP
    model = ShardedNNXMLP(nnx.Rngs(0))
    params0 = h.to_numpy(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    optimizer = nnx.Optimizer(model, h.make_tx("adamw"), wrt=nnx.Param)

    specs = nnx.get_partition_spec(nnx.state(optimizer))
    assert specs["opt_state"][1]["count"].get_value() == P()
    assert specs["opt_state"][0][0]["mu"]["mid"]["kernel"].get_value() == P(
        "fsdp", None)

    @nnx.jit
    def step(model, optimizer, x, y):
      def loss(m):
        return optax.softmax_cross_entropy_with_integer_labels(
            m(x), y).mean()
      optimizer.update(model, nnx.grad(loss)(model))

    x, y = h.batches()
    b_sh = NamedSharding(mesh, P(MESH_AXES))
    for t in range(h.STEPS):
      step(model, optimizer, jax.device_put(x[t], b_sh),
           jax.device_put(y[t], b_sh))

  count = optimizer.opt_state[1].count.get_value()
  assert int(count) == h.STEPS and count.sharding.is_fully_replicated
  kernel = model.mid.kernel.get_value()
  assert kernel.sharding.is_equivalent_to(
      NamedSharding(mesh, P("fsdp", None)), 2)
  # Same as the linen MLP trained on one device from the same values.
  ref_params, _ = h.reference_run(optimizer="adamw", params=params0)
  trained = h.flat_dict(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  for path, value in h.flat_dict(ref_params).items():
    np.testing.assert_allclose(trained[path], value, atol=1e-5, rtol=1e-5,
                               err_msg=path)


# ---------------------------------------------------------------------------
# Scanned layers with logical partitioning (MaxText-style).
# ---------------------------------------------------------------------------


def _logical(axes):
  return nn.with_logical_partitioning(nn.initializers.lecun_normal(), axes)


class ScannedBlock(nn.Module):

  @nn.compact
  def __call__(self, x, _):
    y = nn.Dense(h.WIDTH, use_bias=False,
                 kernel_init=_logical(("embed", "mlp")))(x)
    x = x + nn.Dense(x.shape[-1], use_bias=False,
                     kernel_init=_logical(("mlp", "embed")))(nn.relu(y))
    return x, None


class ScannedLogicalModel(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(h.FEATURES, use_bias=False, name="stem",
                 kernel_init=_logical((None, "embed")))(x)
    x, _ = nn.scan(ScannedBlock, variable_axes={"params": 0},
                   split_rngs={"params": True}, length=4,
                   metadata_params={nn.PARTITION_NAME: "layers"})(
                       name="layers")(x, None)
    return nn.Dense(h.CLASSES, use_bias=False, name="head",
                    kernel_init=_logical(("embed", None)))(x)


def test_scanned_layers_with_logical_partitioning():
  mesh = fsdp_mesh()
  rules = LOGICAL_RULES + (("layers", None),)
  model = ScannedLogicalModel()
  depths = lerac_jax.depths_from_model(model, h.sample_input())
  stacked = depths.table["layers/Dense_1/kernel"]
  assert stacked == lerac_jax.Stacked((2, 4, 6, 8), 0)
  kw = dict(curriculum_steps=10, min_scale=1e-3)
  lr = 1e-2
  tx = lerac_jax.lerac(optax.adamw(lr), depths, **kw)

  def init_state(rng):
    variables = model.init(rng, jnp.zeros((1, h.FEATURES)))
    return train_state.TrainState.create(
        apply_fn=model.apply, params=variables["params"], tx=tx)

  logical = nn.get_partition_spec(
      jax.eval_shape(init_state, jax.random.key(0)))
  assert logical.opt_state[1].count == P()
  assert logical.params["layers"]["Dense_0"]["kernel"] == P(
      "layers", "embed", "mlp")
  shardings = nn.logical_to_mesh_sharding(logical, mesh, rules)
  state = nn.meta.unbox(
      jax.jit(init_state, out_shardings=shardings)(jax.random.key(0)))
  shardings = nn.meta.unbox(shardings)

  x, y = h.batches(1)

  def loss(params):
    logits = model.apply({"params": params}, x[0])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y[0]).mean()

  grads = jax.jit(jax.grad(loss), out_shardings=shardings.params)(
      state.params)
  updates, opt_state = jax.jit(tx.update)(grads, state.opt_state,
                                          state.params)
  kernel = state.params["layers"]["Dense_1"]["kernel"]
  update = updates["layers"]["Dense_1"]["kernel"]
  assert update.sharding.is_equivalent_to(kernel.sharding, kernel.ndim)
  assert kernel.sharding.spec == P(None, None, "fsdp")
  assert opt_state[1].count.sharding.is_fully_replicated
  # AdamW's first step is about lr per element; each slice has its depth's
  # multiplier.
  scales = np.asarray(lerac_jax.current_scales(state.opt_state))
  per_slice = np.abs(np.asarray(update)).max(axis=(1, 2)) / lr
  np.testing.assert_allclose(per_slice, scales[list(stacked.depths)],
                             rtol=1e-2)


# ---------------------------------------------------------------------------
# Inside shard_map: each device sees only its block of every leaf.
# ---------------------------------------------------------------------------


def _shard_map_update(specs, depths, shapes, **kwargs):
  mesh = jax.make_mesh((8,), ("stage",), axis_types=(AxisType.Explicit,))
  tx = lerac_jax.lerac(optax.sgd(1.0), depths, curriculum_steps=10,
                       min_scale=1e-7, **kwargs)
  with jax.set_mesh(mesh):
    params = {k: jnp.ones(shape, jnp.float32,
                          out_sharding=NamedSharding(mesh, specs[k]))
              for k, shape in shapes.items()}
    state = tx.init(params)
    f = jax.shard_map(lambda g, s: tx.update(g, s), mesh=mesh,
                      in_specs=(specs, P()), out_specs=(specs, P()))
    updates, _ = jax.jit(f)(params, state)
  scales = lerac_jax.current_scales(state)
  return updates, np.asarray(scales)


def test_shard_map_update_with_sharded_non_layer_axes():
  depths = {"dense": 0, "stack": lerac_jax.Stacked((1, 2, 3, 4))}
  specs = {"dense": P(None, "stage"), "stack": P(None, "stage")}
  updates, scales = _shard_map_update(
      specs, depths, {"dense": (4, 8), "stack": (4, 8)})
  np.testing.assert_allclose(np.asarray(updates["dense"]), -scales[0])
  np.testing.assert_allclose(np.asarray(updates["stack"])[:, 0],
                             -scales[1:5], rtol=1e-6)


def test_shard_map_update_with_sharded_layer_axis():
  # Each of the 8 devices holds 2 of the 16 slices and takes its block of
  # the per-slice multipliers via lax.axis_index.
  depths = {"stack": lerac_jax.Stacked(tuple(range(16)))}
  updates, scales = _shard_map_update(
      {"stack": P("stage")}, depths, {"stack": (16, 4)},
      layer_axis_name="stage")
  np.testing.assert_allclose(np.asarray(updates["stack"])[:, 0], -scales,
                             rtol=1e-6)


def test_shard_map_sharded_layer_axis_needs_layer_axis_name():
  depths = {"stack": lerac_jax.Stacked(tuple(range(8)))}
  with pytest.raises(ValueError, match=r"'stack' has shape \(1, 4\).*pass "
                     r"layer_axis_name= to scale_by_lerac"):
    _shard_map_update({"stack": P("stage")}, depths, {"stack": (8, 4)})
