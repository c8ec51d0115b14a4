# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The benchmark models: Flax linen versions and their PyTorch twins.

These live here, not in ``examples/models.py``, so the overhead benchmark
depends on nothing but the library, Flax and (optionally) PyTorch.

* :class:`MLP`: ``num_layers`` Dense layers of ``width`` units; with a small
  batch the optimizer's elementwise work dominates the step.
* :class:`ResNet18`: the CIFAR/CBS-style ResNet-18 (3x3 stem, no max-pool,
  BasicBlocks 2-2-2-2). With ``cbs=True`` every 3x3 conv output is smoothed by
  a fixed depthwise 3x3 Gaussian before its BatchNorm, as in the official CBS
  code (1x1 shortcut convs and the head are not smoothed).
* :class:`ScanTransformer`: a pre-norm Transformer encoder whose blocks are one
  ``nn.scan`` (parameters stacked along axis 0).
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp


# ---------------------------------------------------------------------------
# Flax linen models.
# ---------------------------------------------------------------------------


class MLP(nn.Module):
  """A deep, narrow MLP: ``num_layers`` Dense layers with ReLU in between.

  Attributes:
    num_layers: number of Dense layers, the head included.
    width: hidden width (and the input width).
    num_classes: output width.
  """

  num_layers: int = 24
  width: int = 512
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    for i in range(self.num_layers - 1):
      x = nn.relu(nn.Dense(self.width, name=f"dense_{i}")(x))
    return nn.Dense(self.num_classes, name="head")(x)


def gaussian_kernel(sigma: jax.Array, channels: int, size: int = 3):
  """A normalised ``size x size`` Gaussian as a depthwise HWIO conv kernel.

  Args:
    sigma: standard deviation (a traced scalar is fine, so changing it does
      not recompile).
    channels: number of channels (one copy of the kernel per channel).
    size: kernel size; CBS uses 3.

  Returns:
    An array of shape ``(size, size, 1, channels)`` summing to 1 per channel.
  """
  r = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
  g = g / jnp.sum(g)
  return jnp.broadcast_to(g[:, :, None, None], (size, size, 1, channels))


def smooth(x: jax.Array, sigma: jax.Array) -> jax.Array:
  """CBS smoothing: a fixed depthwise 3x3 Gaussian, stride 1, 'SAME' padding."""
  c = x.shape[-1]
  k = jax.lax.stop_gradient(gaussian_kernel(sigma, c).astype(x.dtype))
  return jax.lax.conv_general_dilated(
      x, k, window_strides=(1, 1), padding="SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c)


class BasicBlock(nn.Module):
  """ResNet BasicBlock; with ``cbs`` each 3x3 conv output is smoothed."""

  features: int
  strides: int = 1
  cbs: bool = False

  @nn.compact
  def __call__(self, x, sigma, train: bool = True):
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=0.9, epsilon=1e-5)
    y = nn.Conv(self.features, (3, 3), (self.strides, self.strides),
                padding=1, use_bias=False, name="conv1")(x)
    if self.cbs:
      y = smooth(y, sigma)
    y = nn.relu(norm(name="bn1")(y))
    y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False,
                name="conv2")(y)
    if self.cbs:
      y = smooth(y, sigma)
    y = norm(name="bn2")(y)
    if self.strides != 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1, 1), (self.strides, self.strides),
                  use_bias=False, name="shortcut_conv")(x)
      x = norm(name="shortcut_bn")(x)
    return nn.relu(x + y)


class ResNet18(nn.Module):
  """CIFAR-style ResNet-18 (3x3 stem, no max-pool, blocks 2-2-2-2).

  Attributes:
    width: channels of the first stage (64 for the standard model).
    num_classes: output width.
    cbs: insert CBS Gaussian smoothing after every 3x3 conv.
    stage_sizes: BasicBlocks per stage; (2, 2, 2, 2) is ResNet-18 (the smoke
      test uses (1, 1, 1, 1) to compile faster).
  """

  width: int = 64
  num_classes: int = 10
  cbs: bool = False
  stage_sizes: tuple = (2, 2, 2, 2)

  @nn.compact
  def __call__(self, x, sigma=1.0, train: bool = True):
    sigma = jnp.asarray(sigma, jnp.float32)
    x = nn.Conv(self.width, (3, 3), padding=1, use_bias=False, name="stem")(x)
    if self.cbs:
      x = smooth(x, sigma)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9,
                             epsilon=1e-5, name="stem_bn")(x))
    for stage, mult in enumerate((1, 2, 4, 8)):
      for i in range(self.stage_sizes[stage]):
        strides = 2 if stage > 0 and i == 0 else 1
        x = BasicBlock(self.width * mult, strides, self.cbs,
                       name=f"layer{stage + 1}_{i}")(x, sigma, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="head")(x)


class EncoderBlock(nn.Module):
  """A pre-norm Transformer block; the ``nn.scan`` body (carry, _) -> (carry, None)."""

  num_heads: int
  mlp_dim: int

  @nn.compact
  def __call__(self, x, _):
    d = x.shape[-1]
    y = nn.LayerNorm(name="ln1")(x)
    y = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, deterministic=True, name="attn")(y, y)
    x = x + y
    y = nn.LayerNorm(name="ln2")(x)
    y = nn.Dense(self.mlp_dim, name="mlp_in")(y)
    y = nn.Dense(d, name="mlp_out")(nn.gelu(y))
    return x + y, None


class ScanTransformer(nn.Module):
  """A token classifier whose encoder blocks are one ``nn.scan``.

  Attributes:
    num_layers: number of encoder blocks (the scan length).
    d_model: model width.
    num_heads: attention heads.
    mlp_dim: hidden width of each block's MLP.
    vocab_size: token vocabulary.
    max_len: longest sequence (learned position embeddings).
    num_classes: output width.
  """

  num_layers: int = 6
  d_model: int = 256
  num_heads: int = 4
  mlp_dim: int = 1024
  vocab_size: int = 1024
  max_len: int = 128
  num_classes: int = 10

  @nn.compact
  def __call__(self, tokens, train: bool = True):
    del train
    x = nn.Embed(self.vocab_size, self.d_model, name="embed")(tokens)
    pos = self.param("pos_embed", nn.initializers.normal(0.02),
                     (self.max_len, self.d_model))
    x = x + pos[None, : tokens.shape[1]]
    blocks = nn.scan(
        EncoderBlock, variable_axes={"params": 0},
        split_rngs={"params": True}, length=self.num_layers)(
            self.num_heads, self.mlp_dim, name="blocks")
    x, _ = blocks(x, None)
    x = nn.LayerNorm(name="ln_final")(x)
    return nn.Dense(self.num_classes, name="head")(jnp.mean(x, axis=1))


# ---------------------------------------------------------------------------
# PyTorch twins (for the official per-param-group mechanism, variant D).
# ---------------------------------------------------------------------------


def torch_models():
  """Builds the PyTorch twins lazily, so that importing needs no torch.

  Returns:
    A dict with ``'mlp'``, ``'resnet18'`` and ``'transformer'`` constructors
    taking the same keyword arguments as the Flax models.
  """
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn as tnn  # pylint: disable=g-import-not-at-top

  class TorchMLP(tnn.Module):

    def __init__(self, num_layers=24, width=512, num_classes=10):
      super().__init__()
      layers = [tnn.Linear(width, width) for _ in range(num_layers - 1)]
      self.layers = tnn.ModuleList(layers)
      self.head = tnn.Linear(width, num_classes)

    def forward(self, x):
      for layer in self.layers:
        x = torch.relu(layer(x))
      return self.head(x)

  class TorchBlock(tnn.Module):

    def __init__(self, cin, cout, stride):
      super().__init__()
      self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = tnn.BatchNorm2d(cout)
      self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = tnn.BatchNorm2d(cout)
      self.shortcut = None
      if stride != 1 or cin != cout:
        self.shortcut = tnn.Sequential(
            tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

    def forward(self, x):
      y = torch.relu(self.bn1(self.conv1(x)))
      y = self.bn2(self.conv2(y))
      s = x if self.shortcut is None else self.shortcut(x)
      return torch.relu(s + y)

  class TorchResNet18(tnn.Module):

    def __init__(self, width=64, num_classes=10, cbs=False,
                 stage_sizes=(2, 2, 2, 2)):
      super().__init__()
      assert not cbs, "the torch twin has no CBS variant"
      self.stem = tnn.Conv2d(3, width, 3, 1, 1, bias=False)
      self.stem_bn = tnn.BatchNorm2d(width)
      blocks, cin = [], width
      for stage, mult in enumerate((1, 2, 4, 8)):
        for i in range(stage_sizes[stage]):
          stride = 2 if stage > 0 and i == 0 else 1
          blocks.append(TorchBlock(cin, width * mult, stride))
          cin = width * mult
      self.blocks = tnn.Sequential(*blocks)
      self.head = tnn.Linear(cin, num_classes)

    def forward(self, x):
      x = torch.relu(self.stem_bn(self.stem(x)))
      x = self.blocks(x)
      return self.head(x.mean(dim=(2, 3)))

  class TorchTransformer(tnn.Module):

    def __init__(self, num_layers=6, d_model=256, num_heads=4, mlp_dim=1024,
                 vocab_size=1024, max_len=128, num_classes=10):
      super().__init__()
      self.embed = tnn.Embedding(vocab_size, d_model)
      self.pos_embed = tnn.Parameter(torch.randn(max_len, d_model) * 0.02)
      self.blocks = tnn.ModuleList([
          tnn.TransformerEncoderLayer(
              d_model, num_heads, mlp_dim, dropout=0.0, activation="gelu",
              batch_first=True, norm_first=True)
          for _ in range(num_layers)])
      self.ln_final = tnn.LayerNorm(d_model)
      self.head = tnn.Linear(d_model, num_classes)

    def forward(self, tokens):
      x = self.embed(tokens) + self.pos_embed[None, : tokens.shape[1]]
      for block in self.blocks:
        x = block(x)
      return self.head(self.ln_final(x).mean(dim=1))

  return {"mlp": TorchMLP, "resnet18": TorchResNet18,
          "transformer": TorchTransformer}


def torch_layer_groups(model) -> list[list]:
  """Splits a torch model's parameters into one list per layer, input first.

  A layer is a module that owns parameters directly, taken in registration
  order (which is the forward order for the twins above); norm layers join the
  layer before them, as ``lerac_jax.depths_from_model`` does. A Transformer
  encoder layer is split into its attention, first and second linear layers.

  Args:
    model: a ``torch.nn.Module``.

  Returns:
    A list of parameter lists, one per layer.
  """
  from torch import nn as tnn  # pylint: disable=g-import-not-at-top
  norms = (tnn.BatchNorm2d, tnn.LayerNorm)
  groups: list[list] = []
  own = list(model.named_parameters(recurse=False))
  if own:  # e.g. the Transformer's pos_embed: with the embedding, at depth 0
    groups.append([p for _, p in own])
  for _, module in model.named_modules():
    if module is model:
      continue
    params = list(module.parameters(recurse=False))
    if isinstance(module, tnn.MultiheadAttention):
      params = list(module.parameters())  # in_proj + out_proj: one layer
    elif isinstance(module, tnn.modules.linear.NonDynamicallyQuantizableLinear):
      continue  # the attention's out_proj, already counted with it
    if not params:
      continue
    if isinstance(module, norms) and groups:
      groups[-1].extend(params)
    elif groups and len(groups) == 1 and own and isinstance(
        module, tnn.Embedding):
      groups[0].extend(params)
    else:
      groups.append(params)
  return groups


def num_params(tree) -> int:
  """Number of scalars in a parameter tree."""
  return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))
