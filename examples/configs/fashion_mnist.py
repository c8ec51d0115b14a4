# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Narrow ResNet-8 on a 10k subset of real Fashion-MNIST (CPU, minutes).

Needs the local IDX files (see examples/README.md, "Data").
"""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'fashion_mnist'
  config.max_train_examples = 10000
  config.model = 'narrow_resnet'
  config.batch_size = 64
  config.num_epochs = 4
  config.learning_rate = 0.05
  config.k_epochs = 1.0
  config.lerac.group = 'block'
  config.cbs.every_epochs = 1
  config.regimes = ('conventional', 'warmup', 'lerac', 'lerac_reverse', 'cbs')
  config.seeds = (0, 1, 2)
  return config
