# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Flax linen models: small CNN, residual MLP, CIFAR ResNets, WRN, ViT, char LM.

Every model is called as ``model.apply(variables, x, train=..., sigma=...)``.
``sigma`` is the Curriculum-by-Smoothing blur (see :mod:`examples.cbs`):
``None`` builds the model without smoothing layers; a (traced) scalar adds a
fixed Gaussian after each 3x3 conv (before its norm), or along the sequence
in Transformers. Shortcuts and heads are never smoothed.

All models work with ``lerac_jax.depths_from_model`` with no hand-written
rules: depth is the distance from the input in the dataflow graph, and every
model names its classifier ``head`` and calls it last.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from examples import cbs

# BatchNorm momentum 0.9 (PyTorch's 0.1): running statistics track the short
# CPU runs closely enough for evaluation after every epoch.
BN_MOMENTUM = 0.9


def _norm(train: bool, **kwargs):
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                      **kwargs)


class SmallCNN(nn.Module):
  """conv-[bn]-relu-pool blocks, a hidden dense layer and a dense head."""
  num_classes: int = 10
  features: Sequence[int] = (32, 64)
  hidden: int = 128
  use_norm: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    for i, f in enumerate(self.features):
      x = nn.Conv(f, (3, 3), use_bias=not self.use_norm, name=f'conv{i}')(x)
      x = cbs.smooth2d(x, sigma)
      if self.use_norm:
        x = _norm(train, name=f'bn{i}')(x)
      x = nn.relu(x)
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden, name='fc')(x))
    return nn.Dense(self.num_classes, name='head')(x)


class ResidualMLPBlock(nn.Module):
  """Pre-norm residual block ``x + Dense(relu(LayerNorm(x)))``: one depth."""
  width: int

  @nn.compact
  def __call__(self, x):
    y = nn.relu(nn.LayerNorm(name='norm')(x))
    return x + nn.Dense(self.width, name='dense')(y)


class ResidualMLP(nn.Module):
  """A residual MLP with exactly ``num_depths`` LeRaC depths.

  A dense stem (depth 0), ``num_depths - 2`` pre-norm residual blocks (one
  depth each: the LayerNorm sits with the Dense it feeds) and a dense head
  (the deepest depth). The residual stream keeps 16 depths trainable without
  BatchNorm, and the model is cheap enough on a CPU to run many seeds. It
  has no convolution, so Curriculum by Smoothing does not apply
  (``sigma`` must be None).
  """
  num_classes: int = 10
  num_depths: int = 8
  width: int = 128

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    del train  # no dropout, no batch statistics
    if sigma is not None:
      raise ValueError('ResidualMLP has no convolution to smooth: the cbs '
                       'regimes need a convolutional model (small_cnn, '
                       'resnet, wrn)')
    if self.num_depths < 2:
      raise ValueError(f'ResidualMLP needs num_depths >= 2 (stem and head); '
                       f'got {self.num_depths}')
    x = nn.Dense(self.width, name='stem')(x.reshape((x.shape[0], -1)))
    for i in range(self.num_depths - 2):
      x = ResidualMLPBlock(self.width, name=f'block{i}')(x)
    return nn.Dense(self.num_classes, name='head')(nn.relu(x))


class BasicBlock(nn.Module):
  """ResNet basic block as in the CBS/LeRaC code (CBS blur after each 3x3)."""
  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    shortcut = x
    if self.strides != 1 or x.shape[-1] != self.features:
      # Reads the block input, so it gets the depth of the block's first
      # conv.
      shortcut = nn.Conv(self.features, (1, 1), self.strides, use_bias=False,
                         name='shortcut_conv')(x)
      shortcut = _norm(train, name='shortcut_bn')(shortcut)
    y = nn.Conv(self.features, (3, 3), self.strides, use_bias=False,
                name='conv1')(x)
    y = _norm(train, name='bn1')(cbs.smooth2d(y, sigma))
    y = nn.relu(y)
    y = nn.Conv(self.features, (3, 3), use_bias=False, name='conv2')(y)
    y = _norm(train, name='bn2')(cbs.smooth2d(y, sigma))
    return nn.relu(y + shortcut)


class ResNet(nn.Module):
  """CIFAR-style ResNet: 3x3 stem, no max-pool, basic blocks.

  ``ResNet(stage_sizes=(2, 2, 2, 2), width=64)`` is the ResNet-18 of the CBS
  and LeRaC code; ``ResNet(stage_sizes=(1, 1, 1), width=16)`` a narrow
  ResNet-8 for CPU budgets.
  """
  num_classes: int = 10
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  width: int = 64

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    x = nn.Conv(self.width, (3, 3), use_bias=False, name='stem_conv')(x)
    x = _norm(train, name='stem_bn')(cbs.smooth2d(x, sigma))
    x = nn.relu(x)
    for i, n in enumerate(self.stage_sizes):
      for j in range(n):
        strides = 2 if i > 0 and j == 0 else 1
        x = BasicBlock(self.width * 2**i, strides,
                       name=f'layer{i + 1}_{j}')(x, train, sigma)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name='head')(x)


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), width=64)
NarrowResNet = functools.partial(ResNet, stage_sizes=(1, 1, 1), width=16)


class WideBlock(nn.Module):
  """Pre-activation wide block (CBS's WRN): every 3x3 conv is blurred."""
  features: int
  strides: int = 1
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    o = nn.relu(_norm(train, name='bn1')(x))
    shortcut = x
    if self.strides != 1 or x.shape[-1] != self.features:
      shortcut = nn.Conv(self.features, (1, 1), self.strides, use_bias=False,
                         name='shortcut_conv')(o)
    y = nn.Conv(self.features, (3, 3), self.strides, use_bias=False,
                name='conv1')(o)
    y = cbs.smooth2d(y, sigma)
    y = nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.relu(_norm(train, name='bn2')(y))
    y = nn.Conv(self.features, (3, 3), use_bias=False, name='conv2')(y)
    return cbs.smooth2d(y, sigma) + shortcut


class WideResNet(nn.Module):
  """WRN-depth-widen (pre-activation); the LeRaC code's WRN is WRN-52-2."""
  num_classes: int = 10
  depth: int = 16
  widen: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    if (self.depth - 4) % 6:
      raise ValueError(f'WRN depth must be 6n+4; got {self.depth}')
    n = (self.depth - 4) // 6
    x = nn.Conv(16, (3, 3), use_bias=False, name='stem_conv')(x)
    x = cbs.smooth2d(x, sigma)
    for i, f in enumerate((16 * self.widen, 32 * self.widen,
                           64 * self.widen)):
      for j in range(n):
        strides = 2 if i > 0 and j == 0 else 1
        x = WideBlock(f, strides, self.dropout,
                      name=f'stage{i + 1}_{j}')(x, train, sigma)
    x = nn.relu(_norm(train, name='final_bn')(x))
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name='head')(x)


class PositionEmbedding(nn.Module):
  """Learned additive position embedding (its own module, so it has a depth)."""

  @nn.compact
  def __call__(self, x):
    pe = self.param('embedding', nn.initializers.normal(0.02),
                    (1,) + x.shape[1:])
    return x + pe.astype(x.dtype)


class EncoderBlock(nn.Module):
  """Pre-LN Transformer block; CBS blurs the attention output along tokens."""
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  causal: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    mask = nn.make_causal_mask(jnp.ones(x.shape[:2])) if self.causal else None
    y = nn.LayerNorm(name='ln1')(x)
    y = nn.MultiHeadDotProductAttention(
        self.num_heads, dropout_rate=self.dropout, deterministic=not train,
        name='attn')(y, mask=mask)
    y = cbs.smooth1d(y, sigma, causal=self.causal)
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.LayerNorm(name='ln2')(x)
    y = nn.gelu(nn.Dense(self.mlp_dim, name='mlp1')(y))
    y = nn.Dense(x.shape[-1], name='mlp2')(y)
    return x + nn.Dropout(self.dropout, deterministic=not train)(y)


class ViT(nn.Module):
  """A small Vision Transformer with mean-pooled tokens."""
  num_classes: int = 10
  patch_size: int = 4
  dim: int = 64
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 128
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    p = self.patch_size
    x = nn.Conv(self.dim, (p, p), (p, p), name='patch_embed')(x)
    x = x.reshape((x.shape[0], -1, self.dim))
    x = PositionEmbedding(name='pos_embed')(x)
    for i in range(self.depth):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout,
                       name=f'block{i}')(x, train, sigma)
    x = nn.LayerNorm(name='final_ln')(x)
    return nn.Dense(self.num_classes, name='head')(jnp.mean(x, axis=1))


class CharTransformer(nn.Module):
  """Causal character-level Transformer language model."""
  vocab_size: int
  dim: int = 64
  depth: int = 2
  num_heads: int = 4
  mlp_dim: int = 256
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False, sigma=None):
    x = nn.Embed(self.vocab_size, self.dim, name='embed')(x)
    x = PositionEmbedding(name='pos_embed')(x)
    for i in range(self.depth):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout,
                       causal=True, name=f'block{i}')(x, train, sigma)
    x = nn.LayerNorm(name='final_ln')(x)
    return nn.Dense(self.vocab_size, name='head')(x)


# The one list of models: name -> class. Language models take the
# vocabulary size where classifiers take the number of classes.
MODELS: dict[str, type[nn.Module]] = {
    'small_cnn': SmallCNN,
    'residual_mlp': ResidualMLP,
    'resnet18': ResNet18,
    'narrow_resnet': NarrowResNet,
    'resnet': ResNet,
    'wrn': WideResNet,
    'vit': ViT,
    'char_transformer': CharTransformer,
}


def create_model(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
  """Builds a model by name; ``kwargs`` override its fields.

  Args:
    name: a key of :data:`MODELS`.
    num_classes: classes of a classifier, or the vocabulary size of a
      language model.
    **kwargs: other fields of the model.

  Returns:
    The (unbound) linen module.

  Example:
    >>> create_model('narrow_resnet', 10).stage_sizes
    (1, 1, 1)
  """
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; choose from {tuple(MODELS)}')
  cls = MODELS[name]
  size_field = 'vocab_size' if cls is CharTransformer else 'num_classes'
  return cls(**{size_field: num_classes}, **kwargs)
