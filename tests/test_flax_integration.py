# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""End-to-end Flax training on real data (sklearn digits), linen and NNX.

* linen ``flax.training.train_state.TrainState``: ``apply_gradients`` calls
  ``tx.update(grads, opt_state, params)`` with no extra args. The run must
  equal, step for step, the same SGD written the old way, as one optimizer per
  depth with its own learning-rate schedule (``optax.partition``), i.e. the
  PyTorch param-group semantics.
* NNX ``nnx.Optimizer(model, tx, wrt=nnx.Param)``: ``init`` sees ``nnx.Param``
  variables (paths end in ``.value``) while ``update`` sees raw arrays
  (jax-ecosystem.md, section 2.4). Depths given as a ``Depths`` object, as a
  mapping of path strings, and as a structure-only callable must all work.
"""

import functools

from flax import nnx
import flax.linen as nn
from flax.training import train_state
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import datasets

import lerac_jax

LR = 0.1
KW = dict(curriculum_steps=40, min_scale=1e-4)
STEPS = 120
BATCH = 64


@functools.lru_cache(maxsize=1)
def digits():
  """8x8 digits as 64 features in [0, 1]; a fixed 1500 / 297 split."""
  data = datasets.load_digits()
  x = (data.data / 16.0).astype(np.float32)
  y = data.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  x, y = x[order], y[order]
  return (x[:1500], y[:1500]), (x[1500:], y[1500:])


def batch_at(t):
  (x, y), _ = digits()
  i = (t * BATCH) % (len(x) - BATCH)
  return x[i:i + BATCH], y[i:i + BATCH]


def xent(logits, y):
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


# ---------------------------------------------------------------------------
# linen TrainState
# ---------------------------------------------------------------------------


class LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(64)(x))
    x = nn.LayerNorm()(x)
    x = nn.relu(nn.Dense(64)(x))
    x = nn.relu(nn.Dense(32)(x))
    return nn.Dense(10, name="head")(x)


def linen_state(tx):
  model = LinenMLP()
  params = model.init(jax.random.key(0), jnp.zeros((1, 64)))["params"]
  return train_state.TrainState.create(apply_fn=model.apply, params=params,
                                       tx=tx)


@jax.jit
def linen_step(state, x, y):
  def loss_fn(params):
    return xent(state.apply_fn({"params": params}, x), y)

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  return state.apply_gradients(grads=grads), loss


def param_group_reference(depths):
  """One SGD per depth with lr * m_j(t): the hand-built way LeRaC replaces."""
  curve = lerac_jax.Curriculum(**KW).curve(depths.num_depths)
  labels = lambda params: jax.tree_util.tree_map_with_path(
      lambda p, _: depths.depth_of(lerac_jax.depths.path_to_str(p)), params)
  return optax.partition(
      {d: optax.sgd(lambda t, d=d: LR * curve(t)[d], momentum=0.9)
       for d in range(depths.num_depths)},
      labels)


def test_linen_train_state_on_digits():
  depths = lerac_jax.depths_from_model(
      LinenMLP(), jax.ShapeDtypeStruct((1, 64), jnp.float32))
  # The LayerNorm joins the Dense before it; the head is deepest.
  assert depths.num_depths == 4
  assert depths.table["LayerNorm_0/scale"] == depths.table["Dense_0/kernel"]
  assert depths.table["head/kernel"] == 3
  state = linen_state(
      lerac_jax.lerac(optax.sgd(LR, momentum=0.9), depths, **KW))
  ref = linen_state(param_group_reference(depths))

  params0 = state.params
  losses = []
  for t in range(STEPS):
    x, y = batch_at(t)
    state, loss = linen_step(state, x, y)
    ref, _ = linen_step(ref, x, y)
    losses.append(float(loss))
    if t == 0:
      # First step: head moved min_scale times as far as plain SGD would.
      g = jax.jit(jax.grad(
          lambda p: xent(LinenMLP().apply({"params": p}, x), y)))(params0)
      for path, d in depths.table.items():
        a, b = path.split("/")
        moved = np.asarray(state.params[a][b] - params0[a][b])
        m = lerac_jax.Curriculum(**KW).curve(4)(0)[d]
        # atol: params1 - params0 cancels digits of float32 params ~0.1.
        np.testing.assert_allclose(moved, -LR * m * np.asarray(g[a][b]),
                                   rtol=1e-3, atol=5e-8, err_msg=path)
  # Step for step the same as per-depth param groups.
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)

  assert int(state.step) == STEPS == int(state.opt_state[1].count)
  np.testing.assert_array_equal(
      lerac_jax.current_scales(state.opt_state), 1.0)
  (x_test, y_test) = digits()[1]
  logits = state.apply_fn({"params": state.params}, x_test)
  accuracy = float(np.mean(np.argmax(logits, -1) == y_test))
  assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
  assert accuracy > 0.9, accuracy


# ---------------------------------------------------------------------------
# NNX Optimizer
# ---------------------------------------------------------------------------


class NNXMLP(nnx.Module):
  """Attribute names sort head < layers < norm < stem: the reverse of depth."""

  def __init__(self, rngs):
    self.stem = nnx.Linear(64, 64, rngs=rngs)
    self.layers = nnx.List([nnx.Linear(64, 64, rngs=rngs),
                            nnx.Linear(64, 32, rngs=rngs)])
    self.norm = nnx.LayerNorm(32, rngs=rngs)
    self.head = nnx.Linear(32, 10, rngs=rngs)

  def __call__(self, x):
    x = nnx.relu(self.stem(x))
    for layer in self.layers:
      x = nnx.relu(layer(x))
    return self.head(self.norm(x))


NNX_TABLE = {"stem": 0, "layers/0": 1, "layers/1": 2, "norm": 2, "head": 3}
SEEN_PATHS = []


def _structure_only_depths(tree):
  # Called with nnx.Param variables at init and raw arrays at update: record
  # the raw key paths to show they differ, answer from canonical ones.
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  SEEN_PATHS.append([jax.tree_util.keystr(p) for p, _ in flat])
  table = {}
  for p, _ in flat:
    name = lerac_jax.depths.path_to_str(p)
    table[name] = next(d for k, d in NNX_TABLE.items()
                       if name == k or name.startswith(k + "/"))
  return table


@pytest.mark.parametrize("how", ["depths_from_model", "path_mapping",
                                 "callable"])
def test_nnx_optimizer_on_digits(how):
  model = NNXMLP(nnx.Rngs(0))
  found = lerac_jax.depths_from_model(
      model, jax.ShapeDtypeStruct((1, 64), jnp.float32))
  assert lerac_jax.as_depths(NNX_TABLE).num_depths == found.num_depths == 4
  for path, d in found.table.items():
    assert lerac_jax.as_depths(NNX_TABLE).depth_of(path) == d, path
  depths = {"depths_from_model": found, "path_mapping": NNX_TABLE,
            "callable": _structure_only_depths}[how]
  SEEN_PATHS.clear()
  optimizer = nnx.Optimizer(
      model, lerac_jax.lerac(optax.sgd(LR, momentum=0.9), depths, **KW),
      wrt=nnx.Param)

  @nnx.jit
  def step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(lambda m: xent(m(x), y))(model)
    optimizer.update(model, grads)
    return loss

  before = nnx.state(model, nnx.Param)
  before = jax.tree.map(np.asarray, before)
  losses = []
  for t in range(STEPS):
    x, y = batch_at(t)
    losses.append(float(step(model, optimizer, x, y)))
    if t == 0:
      after = nnx.state(model, nnx.Param)
      scales = lerac_jax.Curriculum(**KW).curve(4)(0)
      head = np.abs(after["head"]["kernel"][...] - before["head"]["kernel"])
      stem = np.abs(after["stem"]["kernel"][...] - before["stem"]["kernel"])
      # The head's first step is min_scale-small, the stem's is not.
      assert head.max() < 10 * float(scales[3]) * LR
      assert stem.max() > 1e-4

  if how == "callable":
    init_paths, update_paths = SEEN_PATHS[0], SEEN_PATHS[-1]
    assert init_paths[0].endswith(".value")  # the section 2.4 difference
    assert not update_paths[0].endswith(".value")
    assert [p.removesuffix(".value") for p in init_paths] == update_paths

  assert int(optimizer.step[...]) == STEPS
  assert int(lerac_jax.transform.find_count(optimizer.opt_state)) == STEPS
  np.testing.assert_array_equal(
      lerac_jax.current_scales(optimizer.opt_state), 1.0)
  x_test, y_test = digits()[1]
  accuracy = float(np.mean(np.argmax(model(x_test), -1) == y_test))
  assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
  assert accuracy > 0.9, accuracy
