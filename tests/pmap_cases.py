# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""8-replica ``jax.pmap`` cases, run by ``test_pmap.py`` in a child process.

Run them directly with

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m pytest tests/pmap_cases.py
"""

from __future__ import annotations

import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax
from tests import scale_helpers as h

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8,
    reason="needs 8 devices; test_pmap.py runs this file in a child process "
    "with XLA_FLAGS=--xla_force_host_platform_device_count=8",
)

N = 8


def replicate(tree):
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (N,) + jnp.shape(x)), tree)


def pmap_step(tx):

  @functools.partial(jax.pmap, axis_name="batch")
  def step(params, opt_state, x, y):
    grads = jax.grad(h.loss_fn)(params, x, y)
    grads = lax.pmean(grads, axis_name="batch")
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_pmap_matches_single_device(optimizer):
  tx = h.make_tx(optimizer)
  depths = h.depths()
  params = replicate(h.init_params())
  opt_state = jax.pmap(tx.init)(params)
  step = pmap_step(tx)
  x, y = h.batches()
  # Each replica gets 4 of the 32 examples; pmean of the per-replica mean
  # gradients is the full-batch mean gradient.
  xs = x.reshape(h.STEPS, N, h.BATCH // N, h.FEATURES)
  ys = y.reshape(h.STEPS, N, h.BATCH // N)

  ref_tx = h.make_tx(optimizer)
  ref_params = h.init_params()
  ref_state = ref_tx.init(ref_params)
  ref_step = jax.jit(h.train_step(ref_tx))
  seen_below_one = False
  for t in range(h.STEPS):
    scales = np.asarray(lerac_jax.current_scales(opt_state))
    ref_scales = np.asarray(lerac_jax.current_scales(ref_state))
    # One row per replica, all identical, and equal to the single device's.
    assert scales.shape == (N, depths.num_depths)
    np.testing.assert_array_equal(scales, np.broadcast_to(scales[0],
                                                          scales.shape))
    np.testing.assert_array_equal(scales[0], ref_scales)
    seen_below_one |= bool(np.any(scales < 1))
    params, opt_state = step(params, opt_state, xs[t], ys[t])
    ref_params, ref_state = ref_step(ref_params, ref_state, x[t], y[t])
  assert seen_below_one
  np.testing.assert_array_equal(np.asarray(opt_state[1].count),
                                np.full((N,), h.STEPS))
  for path, p in h.flat_dict(params).items():
    for replica in range(1, N):  # bitwise identical replicas
      np.testing.assert_array_equal(p[replica], p[0], err_msg=path)
    np.testing.assert_allclose(p[0], h.flat_dict(ref_params)[path],
                               atol=1e-5, rtol=1e-5, err_msg=path)


def test_multipliers_inside_pmap_are_identical():
  """The multipliers each replica applies, read back from inside pmap."""
  depths = {"a": 0, "b": 1, "c": 2}
  kw = dict(curriculum_steps=6, min_scale=1e-4)
  tx = lerac_jax.scale_by_lerac(depths, **kw)
  ones = {k: jnp.ones((N,)) for k in depths}

  @functools.partial(jax.pmap, axis_name="r")
  def step(state):
    updates, state = tx.update({k: jnp.ones(()) for k in depths}, state)
    m = jnp.stack([updates[k] for k in ("a", "b", "c")])
    # Equal on all replicas iff the all-gathered copies agree.
    gathered = lax.all_gather(m, "r")
    return m, jnp.all(gathered == m[None]), state

  state = jax.pmap(tx.init)(ones)
  for t in range(8):
    m, same, state = step(state)
    assert bool(np.all(same)), t
    expected = lerac_jax.Curriculum(**kw).curve(3)(t)
    np.testing.assert_allclose(np.asarray(m)[0], expected, rtol=1e-6)
