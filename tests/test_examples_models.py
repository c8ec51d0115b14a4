# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Every example model works with automatic depth discovery, no rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerac_jax
from examples import models

CASES = {
    'small_cnn': ({}, (1, 8, 8, 1), jnp.float32, 10),
    'resnet18': ({}, (1, 32, 32, 3), jnp.float32, 10),
    'narrow_resnet': ({}, (1, 28, 28, 1), jnp.float32, 10),
    'wrn': ({'depth': 10, 'widen': 2}, (1, 32, 32, 3), jnp.float32, 10),
    'vit': ({'patch_size': 2, 'depth': 3}, (1, 8, 8, 1), jnp.float32, 10),
    'char_transformer': ({}, (1, 16), jnp.int32, 40),
}


@pytest.mark.parametrize('name', sorted(CASES))
@pytest.mark.parametrize('group', ['layer', 'block'])
def test_automatic_depths_put_the_head_last(name, group):
  kwargs, shape, dtype, classes = CASES[name]
  model = models.create_model(name, classes, **kwargs)
  depths = lerac_jax.depths_from_model(
      model, jax.ShapeDtypeStruct(shape, dtype), group=group)
  assert depths.num_depths > 1
  deepest = depths.num_depths - 1
  head = {p: d for p, d in depths.table.items() if p.startswith('head/')}
  assert head and set(head.values()) == {deepest}
  others = [d for p, d in depths.table.items() if not p.startswith('head/')]
  assert max(others) < deepest
  # The first layer called is depth 0.
  assert min(depths.table.values()) == 0


def test_resnet18_layout():
  depths = lerac_jax.depths_from_model(
      models.create_model('resnet18', 10),
      jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32), group='block')
  # stem, 8 basic blocks, head: as the official code groups ResNet-18.
  assert depths.num_depths == 10
  assert depths.table['stem_conv/kernel'] == 0
  assert depths.table['layer4_1/conv2/kernel'] == 8


# Small variants: compile time, not FLOPs, dominates on CPU.
FORWARD = {
    'small_cnn': ({}, (1, 8, 8, 1), jnp.float32, 10),
    'resnet': ({'stage_sizes': (1, 1), 'width': 8}, (1, 8, 8, 1),
               jnp.float32, 10),
    'vit': ({'patch_size': 2, 'depth': 1, 'dim': 16}, (1, 8, 8, 1),
            jnp.float32, 10),
    'char_transformer': ({'depth': 1, 'dim': 16}, (1, 16), jnp.int32, 40),
}


@pytest.mark.parametrize('name', sorted(FORWARD))
def test_forward_and_cbs_sigma_zero_is_plain_model(name):
  kwargs, shape, dtype, classes = FORWARD[name]
  model = models.create_model(name, classes, **kwargs)
  x = (jax.random.randint(jax.random.key(0), (2,) + shape[1:], 0, classes)
       if dtype == jnp.int32
       else jax.random.normal(jax.random.key(0), (2,) + shape[1:]))
  # Random values of the right shapes: skips compiling the initialisers,
  # which dominates the time on CPU. Positive, so BatchNorm variances work.
  rng = np.random.default_rng(0)
  variables = jax.tree.map(
      lambda s: (1 + 0.3 * rng.standard_normal(s.shape)).astype(s.dtype),
      jax.eval_shape(model.init, jax.random.key(1), x))
  plain = jax.jit(model.apply)(variables, x)
  blur = jax.jit(lambda v, x, s: model.apply(v, x, sigma=s))
  same = blur(variables, x, jnp.float32(0.0))
  blurred = blur(variables, x, jnp.float32(1.0))
  np.testing.assert_allclose(plain, same, rtol=1e-5, atol=1e-5)
  assert not np.allclose(plain, blurred)
  assert plain.shape[-1] == classes
