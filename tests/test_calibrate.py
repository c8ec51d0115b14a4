# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests for the SNR calibration: measure_snr and snr_ratios."""

import re
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import datasets

import lerac_jax

WIDTH = 64


@pytest.fixture(scope="module")
def digits():
  d = datasets.load_digits()
  x = (d.data / 16.0).astype(np.float32)
  return jnp.asarray(x[:256]), jnp.asarray(d.target[:256])


def init_mlp(key, depth, width=WIDTH, n_in=64, n_out=None):
  """He-style default init (variance 1 / fan_in), zero biases."""
  dims = [n_in] + [width] * depth
  if n_out is not None:
    dims[-1] = n_out
  keys = jax.random.split(key, depth)
  return {f"layer{i:02d}": {
      "kernel": jax.random.normal(keys[i], (dims[i], dims[i + 1]))
                / np.sqrt(dims[i]),
      "bias": jnp.zeros(dims[i + 1])} for i in range(depth)}


def mlp(act, hook=None):
  def fn(p, x):
    for name in sorted(p):
      x = act(x @ p[name]["kernel"] + p[name]["bias"])
      if hook is not None:
        jax.debug.callback(hook, x)
    return x
  return fn


def db(snr):
  return 10 * np.log10(np.asarray(snr))


def test_relu_mlp_snr_falls_with_depth_on_digits(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 8)
  snr = lerac_jax.measure_snr(mlp(jax.nn.relu), p, x, key=jax.random.key(1))
  assert snr.shape == (8,)
  assert np.all(np.isfinite(snr)) and np.all(snr > 0)
  assert db(snr)[0] - db(snr)[-1] > 2.0, db(snr)
  slope = np.polyfit(np.arange(8), db(snr), 1)[0]
  assert slope < -0.25, slope  # measured: -0.38 dB per depth


def test_same_key_same_profile_and_other_key_differs(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 3)
  fn = mlp(jax.nn.relu)
  a = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(5))
  b = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(5))
  c = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(6))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  np.testing.assert_allclose(db(a), db(c), atol=0.5)  # noise, not signal


def test_noise_scale_sets_the_input_snr(digits):
  """A linear first layer: the SNR scales as 1 / noise_scale^2."""
  x, _ = digits
  p = init_mlp(jax.random.key(0), 2)
  fn = mlp(jax.nn.relu)
  lo = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1), noise_scale=0.1)
  hi = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1), noise_scale=0.2)
  np.testing.assert_allclose(lo[0] / hi[0], 4.0, rtol=1e-3)


def test_ratios_range_order_and_clip(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 8)
  snr = lerac_jax.measure_snr(mlp(jax.nn.relu), p, x, key=jax.random.key(1))
  for fit in ("measured", "loglinear"):
    r = np.asarray(lerac_jax.snr_ratios(snr, min_scale=0.6, fit=fit))
    assert r[0] == 1.0
    assert np.all(np.diff(r) <= 0)
    assert np.all((r >= 0.6) & (r <= 1.0))
  r = np.asarray(lerac_jax.snr_ratios(snr, min_scale=0.6))
  np.testing.assert_allclose(
      r, np.clip(np.minimum.accumulate(snr / snr[0]), 0.6, 1), rtol=1e-6)
  assert r[-1] == np.float32(0.6)  # a 2.7 dB fall (to 0.54): clipped


def test_ratios_of_a_rising_profile_warn_and_are_one():
  with pytest.warns(UserWarning, match="does not fall"):
    r = lerac_jax.snr_ratios([10.0, 12.0, 11.0])
  np.testing.assert_array_equal(r, [1.0, 1.0, 1.0])


def test_flat_tanh_profile_warns(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 6)
  snr = lerac_jax.measure_snr(mlp(jnp.tanh), p, x, key=jax.random.key(1))
  assert np.ptp(db(snr)) < 1.0, db(snr)
  with pytest.warns(UserWarning, match="little or no curriculum"):
    lerac_jax.snr_ratios(snr)


def test_falling_profile_does_not_warn():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    lerac_jax.snr_ratios([100.0, 40.0, 10.0])


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, float("nan")]])
def test_ratios_reject_bad_profiles(bad):
  with pytest.raises(ValueError):
    lerac_jax.snr_ratios(bad)


@pytest.mark.parametrize("min_scale", [0.0, 1e-40, 1.5, float("nan")])
def test_ratios_and_curriculum_refuse_the_same_min_scale(min_scale):
  with pytest.raises(ValueError, match="min_scale must be in"):
    lerac_jax.snr_ratios([100.0, 40.0, 10.0], min_scale=min_scale)
  with pytest.raises(ValueError, match="min_scale must be in"):
    lerac_jax.Curriculum(curriculum_steps=10, min_scale=min_scale)


@pytest.mark.parametrize("min_scale", [1e-6, 1.0])
def test_ratios_and_curriculum_accept_the_same_min_scale(min_scale):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # min_scale=1 prescribes no curriculum
    r = np.asarray(lerac_jax.snr_ratios([100.0, 40.0, 1e-9],
                                        min_scale=min_scale))
  assert r[-1] == np.float32(min_scale)  # the floor is reached and kept
  c = lerac_jax.Curriculum(curriculum_steps=10, min_scale=min_scale)
  assert c.min_scale == min_scale


def test_lerac_accepts_the_ratios_and_trains(digits):
  x, y = digits
  p = init_mlp(jax.random.key(0), 6, n_out=10)
  body = mlp(jax.nn.relu)
  fn = lambda q, x: body({k: q[k] for k in sorted(q)[:-1]}, x) @ q[
      sorted(q)[-1]]["kernel"]
  depths = lerac_jax.depths_from_fn(fn, p, x)
  ratios = lerac_jax.snr_ratios(
      lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1)), min_scale=1e-2)
  assert len(ratios) == depths.num_depths == 6
  tx = lerac_jax.lerac(optax.sgd(0.1), depths, curriculum_steps=20,
                       initial_ratios=ratios)
  loss = lambda q: optax.softmax_cross_entropy_with_integer_labels(
      fn(q, x), y).mean()
  grads = jax.grad(loss)(p)
  updates, _ = tx.update(grads, tx.init(p), p)
  # The first update of depth j is r_j times plain SGD's.
  for j, name in enumerate(sorted(p)):
    np.testing.assert_allclose(updates[name]["kernel"],
                               -0.1 * ratios[j] * grads[name]["kernel"],
                               rtol=1e-5, atol=1e-8)
  state, losses = tx.init(p), []
  step = jax.jit(lambda q, s: (lambda u, s: (optax.apply_updates(q, u), s))(
      *tx.update(jax.grad(loss)(q), s, q)))
  for _ in range(10):
    losses.append(float(loss(p)))
    p, state = step(p, state)
  assert np.all(np.isfinite(losses))
  assert losses[-1] < losses[0]


def test_peak_memory_is_one_layer_not_the_stack(digits):
  """Live device bytes, read by a callback inside the forward pass.

  A 24-layer MLP on 256 examples: one activation is 256 x 256 float32
  (256 KiB); kept for every layer, clean and noisy, pre- and
  post-activation, they would be 96 of them. The callback runs while
  measure_snr evaluates each layer, and sums the bytes of every live JAX
  array beyond those alive before the call.
  """
  x, _ = digits
  depth, width = 24, 256
  p = init_mlp(jax.random.key(0), depth, width=width)
  one = x.shape[0] * width * 4
  peaks = []
  base = [0]

  def hook(_):
    peaks.append(sum(a.nbytes for a in jax.live_arrays()) - base[0])

  fn = mlp(jax.nn.relu, hook)
  depths = lerac_jax.depths_from_fn(fn, p, x)
  base[0] = sum(a.nbytes for a in jax.live_arrays())
  snr = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1), depths=depths)
  assert snr.shape == (depth,)
  assert len(peaks) == 2 * depth  # clean and noisy passes of every layer
  assert max(peaks) < 8 * one, (max(peaks) / one)


class LinenMLP(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    for i in range(3):
      x = nn.relu(nn.Dense(WIDTH, name=f"dense{i}")(x))
      x = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(x)
    return nn.Dense(10, name="head")(x)


def test_linen_apply_matches_the_plain_function(digits):
  x, _ = digits
  model = LinenMLP()
  variables = model.init(jax.random.key(0), x[:2])
  stats = variables["batch_stats"]
  fn = lambda p, x: model.apply({"params": p, "batch_stats": stats}, x)
  snr = lerac_jax.measure_snr(fn, variables["params"], x,
                              key=jax.random.key(1))
  depths = lerac_jax.depths_from_model(model, x)
  assert snr.shape == (depths.num_depths,) == (4,)
  # The same computation written by hand (eval-mode BatchNorm at init is
  # x / sqrt(1 + eps)) gives the same profile.
  p = variables["params"]

  def plain(p, x):
    for i in range(3):
      d = p[f"dense{i}"]
      x = jax.nn.relu(x @ d["kernel"] + d["bias"])
      x = x / jnp.sqrt(1 + 1e-5) * p[f"bn{i}"]["scale"] + p[f"bn{i}"]["bias"]
    return x @ p["head"]["kernel"] + p["head"]["bias"]

  np.testing.assert_allclose(
      snr, lerac_jax.measure_snr(plain, p, x, key=jax.random.key(1)),
      rtol=1e-3)


def test_token_inputs_are_perturbed_at_the_embedding():
  vocab, dim, seq = 20, 16, 12
  k = jax.random.split(jax.random.key(0), 4)
  p = {"embed": jax.random.normal(k[0], (vocab, dim)),
       "w1": jax.random.normal(k[1], (dim, dim)) / 4,
       "w2": jax.random.normal(k[2], (dim, dim)) / 4}
  fn = lambda p, t: jax.nn.relu(jax.nn.relu(p["embed"][t] @ p["w1"])
                                @ p["w2"])
  tokens = jax.random.randint(k[3], (64, seq), 0, vocab)
  snr = lerac_jax.measure_snr(fn, p, tokens, key=jax.random.key(1))
  assert snr.shape == (3,)
  # The embedding rows get noise at noise_scale of their std: the SNR of the
  # lookup is the ratio of their spread to that noise.
  rows = p["embed"][tokens]
  expected = np.var(rows, axis=0).sum() / (0.1 * np.std(rows)) ** 2 / rows[
      0].size
  np.testing.assert_allclose(snr[0], expected, rtol=0.05)


def test_parallel_branches_pool_and_given_depths_are_used(digits):
  x, _ = digits
  k = jax.random.split(jax.random.key(0), 3)
  p = {"a": jax.random.normal(k[0], (64, 32)) / 8,
       "b": jax.random.normal(k[1], (64, 32)) / 8,
       "c": jax.random.normal(k[2], (32, 8)) / 6}
  fn = lambda p, x: jax.nn.relu(x @ p["a"] + 2 * (x @ p["b"])) @ p["c"]
  snr = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1))
  assert snr.shape == (2,)  # a and b are parallel: one depth
  one = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1),
                              depths={"a": 0, "b": 0, "c": 0})
  assert one.shape == (1,)
  assert min(snr) <= one[0] <= max(snr)  # pooled over all contractions


def test_jit_inside_fn_is_inlined(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 3)
  fn = mlp(jax.nn.relu)
  a = lerac_jax.measure_snr(fn, p, x, key=jax.random.key(1))
  b = lerac_jax.measure_snr(jax.jit(fn), p, x, key=jax.random.key(1))
  np.testing.assert_allclose(a, b, rtol=1e-5)


def test_scanned_layers_raise_naming_the_primitive(digits):
  x, _ = digits
  w = jax.random.normal(jax.random.key(0), (4, 64, 64)) / 8

  def fn(p, x):
    return jax.lax.scan(lambda h, w: (jax.nn.relu(h @ w), None), x, p)[0]

  with pytest.raises(NotImplementedError, match="'scan'"):
    lerac_jax.measure_snr(fn, w, x, key=jax.random.key(1),
                          depths={"": 0})


def test_describe_shows_the_calibrated_ratios():
  depths = {"stem": 0, "mid": 1, "head": 2}
  ratios = lerac_jax.snr_ratios([100.0, 40.0, 10.0])
  table = lerac_jax.describe(depths, curriculum_steps=10, initial_ratios=ratios)
  rows = {m.group(2): float(m.group(1)) for m in re.finditer(
      r"^\s+\d+\s+(\S+)\s+\S+\s+(\w+)$", table, re.M)}
  assert rows == {"stem": 1.0, "mid": 0.4, "head": 0.1}, table


def test_a_key_passed_before_the_batch_is_named_as_such(digits):
  x, _ = digits
  p = init_mlp(jax.random.key(0), 2)
  def fn(p, rng, x):  # a forward pass that takes a key before the batch
    del rng
    return mlp(jax.nn.relu)(p, x)
  with pytest.raises(TypeError, match=r"Array argument 0 after params is a "
                     r"PRNG key.*lambda p, x: fn\(p, rng, x\)"):
    lerac_jax.measure_snr(fn, p, jax.random.key(1), x, key=jax.random.key(2))
  with pytest.raises(ValueError, match=r"first one has shape \(1, 64\), so 1"):
    lerac_jax.measure_snr(mlp(jax.nn.relu), p, x[:1], key=jax.random.key(1))
