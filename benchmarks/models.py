# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The benchmark models: Flax linen versions and their PyTorch twins.

* :class:`MLP`: ``num_layers`` Dense layers of ``width`` units; with a small
  batch the optimizer's elementwise work dominates the step.
* :class:`ScanTransformer`: a pre-norm Transformer encoder whose blocks are one
  ``nn.scan`` (parameters stacked along axis 0).

The ResNet-18 is not defined here: the benchmark uses the examples' CIFAR
ResNet (``examples.models.ResNet18``, CBS smoothing from
``examples.cbs.smooth2d``), so there is one ResNet-18 and one set of LeRaC
depths for it. Its PyTorch twin, for variant D, is here with the other twins.
"""

from __future__ import annotations

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
    """``examples.models.BasicBlock``, its modules named as the Flax ones."""

    def __init__(self, cin, cout, stride):
      super().__init__()
      # Registered first, like the Flax block calls it first; it reads the
      # block input, so torch_layer_groups puts it in conv1's group.
      self.shortcut_conv = self.shortcut_bn = None
      if stride != 1 or cin != cout:
        self.shortcut_conv = tnn.Conv2d(cin, cout, 1, stride, bias=False)
        self.shortcut_bn = tnn.BatchNorm2d(cout)
      self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = tnn.BatchNorm2d(cout)
      self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = tnn.BatchNorm2d(cout)

    def forward(self, x):
      s = x
      if self.shortcut_conv is not None:
        s = self.shortcut_bn(self.shortcut_conv(x))
      y = torch.relu(self.bn1(self.conv1(x)))
      y = self.bn2(self.conv2(y))
      return torch.relu(y + s)

  class TorchResNet18(tnn.Module):
    """``examples.models.ResNet`` without CBS (variant D times no CBS).

    Modules are named as the Flax ones (``stem_conv``, ``layer2_0.conv1``,
    ...). A stride-2 3x3 conv pads (1, 1) here and (0, 1) in Flax ('SAME'):
    the shapes and the cost are the same.
    """

    def __init__(self, width=64, num_classes=10, stage_sizes=(2, 2, 2, 2)):
      super().__init__()
      self.stem_conv = tnn.Conv2d(3, width, 3, 1, 1, bias=False)
      self.stem_bn = tnn.BatchNorm2d(width)
      cin = width
      self.blocks = []
      for i, n in enumerate(stage_sizes):
        for j in range(n):
          stride = 2 if i > 0 and j == 0 else 1
          block = TorchBlock(cin, width * 2**i, stride)
          self.add_module(f"layer{i + 1}_{j}", block)
          self.blocks.append(block)
          cin = width * 2**i
      self.head = tnn.Linear(cin, num_classes)

    def forward(self, x):
      x = torch.relu(self.stem_bn(self.stem_conv(x)))
      for block in self.blocks:
        x = block(x)
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
  layer before them, as ``lerac_jax.depths_from_model`` does. A ResNet block's
  ``shortcut_conv`` reads the block input, so it (and its ``shortcut_bn``)
  joins the group of the block's ``conv1``, as it shares its depth in the Flax
  model. A pre-norm Transformer encoder layer is split as the Flax
  ``EncoderBlock``'s dataflow depths are: its ``norm1`` joins the layer before
  it (it normalises that layer's output), then q/k/v (``in_proj``), the
  attention output with ``norm2``, ``linear1``, ``linear2``: four groups.

  Args:
    model: a ``torch.nn.Module``.

  Returns:
    A list of parameter lists, one per layer.
  """
  from torch import nn as tnn  # pylint: disable=g-import-not-at-top
  norms = (tnn.BatchNorm2d, tnn.LayerNorm)
  groups: list[list] = []
  last = None  # the group the previous layer went to
  pending: dict[str, list] = {}  # block prefix -> its shortcut's parameters
  own = list(model.named_parameters(recurse=False))
  if own:  # e.g. the Transformer's pos_embed: with the embedding, at depth 0
    groups.append([p for _, p in own])
  encoder_layers = [n for n, m in model.named_modules()
                    if isinstance(m, tnn.TransformerEncoderLayer)]
  for name, module in model.named_modules():
    inside_encoder_layer = any(name.startswith(f"{n}.") for n in encoder_layers)
    if module is model or inside_encoder_layer:
      continue  # an encoder layer's parts are grouped when it is visited
    if isinstance(module, tnn.TransformerEncoderLayer):
      attn = module.self_attn
      last.extend(module.norm1.parameters())
      groups.extend([
          [attn.in_proj_weight, attn.in_proj_bias],
          [*attn.out_proj.parameters(), *module.norm2.parameters()],
          list(module.linear1.parameters()),
          list(module.linear2.parameters())])
      last = groups[-1]
      continue
    params = list(module.parameters(recurse=False))
    if not params:
      continue
    prefix, _, leaf = name.rpartition(".")
    if leaf in ("shortcut_conv", "shortcut_bn"):
      pending.setdefault(prefix, []).extend(params)  # waits for conv1
    elif isinstance(module, norms) and last is not None:
      last.extend(params)
    elif len(groups) == 1 and own and isinstance(module, tnn.Embedding):
      groups[0].extend(params)
      last = groups[0]
    else:
      if leaf == "conv1":
        params = pending.pop(prefix, []) + params
      groups.append(params)
      last = groups[-1]
  if pending:
    raise ValueError(f"shortcuts without a conv1: {sorted(pending)}")
  return groups


def num_params(tree) -> int:
  """Number of scalars in a parameter tree."""
  return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))
