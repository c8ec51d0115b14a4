# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""WRN-10-2 on a 5k subset of Fashion-MNIST (CPU-sized Wide-ResNet)."""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'fashion_mnist'
  config.max_train_examples = 5000
  config.max_validation_examples = 2000
  config.eval_test_every_epoch = False
  config.model = 'wrn'
  config.model_kwargs.depth = 10
  config.model_kwargs.widen = 2
  config.model_kwargs.dropout = 0.0
  config.num_epochs = 4
  config.learning_rate = 0.05
  config.k_epochs = 1.0
  config.lerac.group = 'block'
  config.cbs.every_epochs = 1
  config.regimes = ('conventional', 'warmup', 'lerac', 'cbs')
  return config
