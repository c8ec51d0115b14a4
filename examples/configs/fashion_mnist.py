# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Narrow ResNet-8 on a 5k subset of real Fashion-MNIST (CPU, ~10 minutes).

Needs the local IDX files (see examples/README.md, "Data").
"""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'fashion_mnist'
  config.max_train_examples = 5000
  config.max_validation_examples = 2000
  config.eval_test_every_epoch = False  # full 10k test set, only when needed
  config.model = 'narrow_resnet'
  config.batch_size = 64
  config.num_epochs = 4
  config.learning_rate = 0.05
  config.k_epochs = 1.0
  config.lerac.group = 'block'
  config.cbs.every_epochs = 1
  config.regimes = ('conventional', 'warmup', 'lerac', 'cbs')
  config.seeds = (0, 1, 2)
  return config
