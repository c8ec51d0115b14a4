# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""A small ViT (2x2 patches, 4 blocks) on the embedded digits, with Adam."""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.model = 'vit'
  config.model_kwargs.patch_size = 2
  config.model_kwargs.dim = 64
  config.model_kwargs.depth = 4
  config.model_kwargs.num_heads = 4
  config.model_kwargs.mlp_dim = 128
  config.optimizer = 'adam'
  config.learning_rate = 2e-3
  config.weight_decay = 0.0
  config.num_epochs = 15
  config.k_epochs = 3.0
  config.lerac.group = 'block'
  return config
