# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests of examples/cbs.py: Curriculum-by-Smoothing kernels and layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from examples import cbs


@pytest.mark.parametrize('sigma', [0.3, 0.9, 1.0, 2.5])
@pytest.mark.parametrize('size', [3, 5])
def test_kernels_sum_to_one_and_are_symmetric(sigma, size):
  k1 = np.asarray(cbs.gaussian_kernel_1d(sigma, size))
  k2 = np.asarray(cbs.gaussian_kernel_2d(sigma, size))
  np.testing.assert_allclose(k1.sum(), 1.0, rtol=1e-6)
  np.testing.assert_allclose(k2.sum(), 1.0, rtol=1e-6)
  np.testing.assert_allclose(k1, k1[::-1])
  np.testing.assert_allclose(k2, k2.T)
  assert k1.argmax() == size // 2


def test_kernel_matches_the_gaussian_formula():
  k = np.asarray(cbs.gaussian_kernel_2d(1.0))
  g = np.exp(-0.5 * np.array([1.0, 0.0, 1.0]) ** 2)
  expected = np.outer(g, g) / np.outer(g, g).sum()
  np.testing.assert_allclose(k, expected, rtol=1e-6)


@pytest.mark.parametrize('sigma', [0.0, 1e-6, 1e-3, 0.05])
def test_smoothing_with_sigma_near_zero_is_identity(sigma):
  x = jax.random.normal(jax.random.key(0), (2, 6, 5, 3))
  np.testing.assert_allclose(cbs.smooth2d(x, sigma), x, atol=1e-6)
  t = jax.random.normal(jax.random.key(1), (2, 7, 4))
  np.testing.assert_allclose(cbs.smooth1d(t, sigma), t, atol=1e-6)
  np.testing.assert_allclose(cbs.smooth1d(t, sigma, causal=True), t,
                             atol=1e-6)


def test_none_sigma_means_no_smoothing():
  x = jnp.ones((1, 4, 4, 2))
  assert cbs.smooth2d(x, None) is x
  t = x[:, 0]
  assert cbs.smooth1d(t, None) is t


def test_smooth2d_is_depthwise_and_preserves_constants_inside():
  x = jnp.stack([jnp.full((5, 5), 2.0), jnp.full((5, 5), -1.0)], -1)[None]
  y = cbs.smooth2d(x, 1.0)
  assert y.shape == x.shape
  # Interior pixels of a constant map keep their value (kernel sums to 1)
  # and channels do not mix.
  np.testing.assert_allclose(y[0, 1:-1, 1:-1, 0], 2.0, rtol=1e-6)
  np.testing.assert_allclose(y[0, 1:-1, 1:-1, 1], -1.0, rtol=1e-6)


def test_smoothing_blurs_an_impulse_with_the_kernel():
  x = jnp.zeros((1, 5, 5, 1)).at[0, 2, 2, 0].set(1.0)
  y = cbs.smooth2d(x, 1.0)
  np.testing.assert_allclose(y[0, 1:4, 1:4, 0], cbs.gaussian_kernel_2d(1.0),
                             rtol=1e-6)


def test_causal_smoothing_never_looks_ahead():
  x = jax.random.normal(jax.random.key(0), (1, 8, 3))
  jac = jax.jacobian(lambda v: cbs.smooth1d(v, 1.0, causal=True))(x)
  # d out[t] / d in[s] must vanish for s > t.
  dep = np.abs(np.asarray(jac)).sum(axis=(0, 2, 3, 5))  # (T_out, T_in)
  assert np.all(np.triu(dep, k=1) == 0)
  assert np.all(np.diag(dep) > 0)


def test_sigma_schedule():
  assert cbs.sigma_at_epoch(0) == 1.0
  assert cbs.sigma_at_epoch(4, every=5) == 1.0
  assert cbs.sigma_at_epoch(5, every=5) == pytest.approx(0.9)
  assert cbs.sigma_at_epoch(10, initial=0.8, every=5) == pytest.approx(0.648)


def test_sigma_is_traced_without_recompiling():
  traces = []

  @jax.jit
  def f(x, s):
    traces.append(1)
    return cbs.smooth2d(x, s)

  x = jnp.ones((1, 4, 4, 1))
  f(x, jnp.float32(1.0))
  f(x, jnp.float32(0.5))
  assert len(traces) == 1


def test_separable_blur_equals_depthwise_conv():
  # CBS's reference: a fixed depthwise conv with the 2-D kernel, zero pad.
  x = jax.random.normal(jax.random.key(3), (2, 7, 6, 4))
  k = cbs.gaussian_kernel_2d(0.8)
  kernel = jnp.tile(k[:, :, None, None], (1, 1, 1, 4))
  ref = jax.lax.conv_general_dilated(
      x, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=4)
  np.testing.assert_allclose(cbs.smooth2d(x, 0.8), ref, rtol=1e-5, atol=1e-6)
