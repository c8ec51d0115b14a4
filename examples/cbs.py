# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Curriculum by Smoothing (Sinha, Garg and Larochelle, NeurIPS 2020).

CBS blurs the output of every 3x3 convolution with a fixed (non-trainable)
depthwise Gaussian kernel, placed after the conv and before the norm layer,
and lowers the kernel's sigma during training, letting more high-frequency
information through. Shortcut (1x1) convs and the head are not smoothed. For
sequence models the blur is a 1-D Gaussian along the sequence axis.

Here ``sigma`` is an input of the model (a traced scalar), so changing it
every few epochs does not recompile anything. When sigma is near 0 the kernel
is a unit impulse, so the layer is the identity. The kernel is active at
evaluation time too, as in the official CBS code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Below this sigma the kernel is replaced by its limit, a unit impulse; it
# also keeps the Gaussian's exponent finite.
MIN_SIGMA = 1e-3


def gaussian_kernel_1d(sigma: jax.Array | float, size: int = 3) -> jax.Array:
  """Normalised 1-D Gaussian weights of odd length ``size``, summing to 1.

  Args:
    sigma: standard deviation in pixels/positions (traced is fine).
    size: odd kernel length.

  Returns:
    A float32 (size,) array. For sigma <= MIN_SIGMA, the unit impulse.

  Example:
    >>> k = gaussian_kernel_1d(1.0)
    >>> [round(float(v), 4) for v in k]
    [0.2741, 0.4519, 0.2741]
    >>> gaussian_kernel_1d(0.0).tolist()
    [0.0, 1.0, 0.0]
  """
  if size % 2 != 1:
    raise ValueError(f'kernel size must be odd; got {size}')
  sigma = jnp.asarray(sigma, jnp.float32)
  safe = jnp.maximum(sigma, MIN_SIGMA)
  r = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  # The exponent is at most 0 (at the centre), so exp cannot overflow, and
  # the sum is at least 1.
  w = jnp.exp(-0.5 * (r / safe) ** 2)
  w = w / jnp.sum(w)
  impulse = (r == 0).astype(jnp.float32)
  return jnp.where(sigma > MIN_SIGMA, w, impulse)


def gaussian_kernel_2d(sigma: jax.Array | float, size: int = 3) -> jax.Array:
  """The (size, size) isotropic Gaussian of CBS, normalised to sum 1.

  Example:
    >>> float(gaussian_kernel_2d(1.0).sum())
    1.0
  """
  k = gaussian_kernel_1d(sigma, size)
  return jnp.outer(k, k)


def _blur_axis(x: jax.Array, k: jax.Array, axis: int) -> jax.Array:
  """Correlates x with the 1-D kernel k along one axis, zero 'SAME' padding."""
  size = k.shape[0]
  half = size // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (half, half)
  padded = jnp.pad(x, pad)
  n = x.shape[axis]
  # out[t] = sum_i k[i] * x[t + i - half]
  return sum(k[i] * jax.lax.slice_in_dim(padded, i, i + n, axis=axis)
             for i in range(size))


def smooth2d(x: jax.Array, sigma: jax.Array | float | None,
             size: int = 3) -> jax.Array:
  """Depthwise Gaussian blur of an NHWC feature map, 'SAME' padding, stride 1.

  The same as CBS's fixed depthwise ``Conv2d`` with the 2-D kernel
  :func:`gaussian_kernel_2d` and zero padding, computed separably (rows,
  then columns) with shifted adds: much faster on CPU than a grouped conv.

  Args:
    x: (N, H, W, C) features.
    sigma: the blur's sigma; None means no smoothing (not a CBS regime).
    size: kernel size (CBS default 3).

  Returns:
    Features of the same shape and dtype.
  """
  if sigma is None:
    return x
  k = gaussian_kernel_1d(sigma, size).astype(x.dtype)
  return _blur_axis(_blur_axis(x, k, 1), k, 2)


def smooth1d(x: jax.Array, sigma: jax.Array | float | None, size: int = 3,
             causal: bool = False) -> jax.Array:
  """Gaussian blur of (N, T, D) token features along the sequence axis T.

  Args:
    x: (N, T, D) features.
    sigma: the blur's sigma; None means no smoothing.
    size: kernel size.
    causal: use only the current and earlier positions (the half-Gaussian,
      renormalised), so a language model cannot see future characters.

  Returns:
    Features of the same shape.
  """
  if sigma is None:
    return x
  k = gaussian_kernel_1d(sigma, size)
  half = size // 2
  if causal:
    k = k.at[half + 1:].set(0.0)
    k = k / jnp.sum(k)
  return _blur_axis(x, k.astype(x.dtype), 1)


def sigma_at_epoch(epoch: int, initial: float = 1.0, decay: float = 0.9,
                   every: int = 5) -> float:
  """CBS sigma for a 0-based epoch: ``initial * decay ** (epoch // every)``.

  Example:
    >>> [round(sigma_at_epoch(e, every=2), 3) for e in range(5)]
    [1.0, 1.0, 0.9, 0.9, 0.81]
  """
  return float(initial * decay ** (epoch // max(1, every)))


def decay_to_reach(final_sigma: float, num_epochs: int, initial: float = 1.0,
                   every: int = 1) -> float:
  """The CBS decay factor that brings sigma to ``final_sigma`` by the last epoch.

  CBS's own schedule (sigma 1, x0.9 every 5 epochs) ends at
  ``0.9 ** 40 ~ 0.015`` after 200 epochs: by the end the blur is gone. Its
  constants do not scale to a short run (after 2 epochs sigma is still 0.9),
  so a short run instead picks the factor from its length: with
  ``(num_epochs - 1) // every`` decay events before the last epoch,
  ``sigma_at_epoch(num_epochs - 1, initial, decay, every) == final_sigma``.

  Args:
    final_sigma: sigma wanted in the last (0-based ``num_epochs - 1``) epoch.
    num_epochs: epochs in the run.
    initial: sigma in the first epoch.
    every: epochs between decay events.

  Returns:
    The decay factor; 1.0 when the run has no decay event (a single epoch,
    or ``every >= num_epochs``), as no factor can reach ``final_sigma``.

  Example:
    >>> decay_to_reach(0.05, num_epochs=2)
    0.05
    >>> d = decay_to_reach(0.05, num_epochs=11)
    >>> round(d, 4), round(sigma_at_epoch(10, 1.0, d, 1), 4)
    (0.7411, 0.05)
    >>> decay_to_reach(0.05, num_epochs=1)
    1.0
  """
  if not 0 < final_sigma <= initial:
    raise ValueError(f'need 0 < final_sigma <= initial; got {final_sigma} '
                     f'and {initial}')
  events = (num_epochs - 1) // max(1, every)
  if events <= 0:
    return 1.0
  return float((final_sigma / initial) ** (1.0 / events))
