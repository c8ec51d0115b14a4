# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""WRN-10-2 on a 5k subset of Fashion-MNIST (CPU-sized Wide-ResNet).

The ``fashion_mnist`` setting (data, budget, regimes) with another model.
"""

from examples.configs import fashion_mnist


def get_config():
  config = fashion_mnist.get_config()
  config.model = 'wrn'
  config.model_kwargs.depth = 10
  config.model_kwargs.widen = 2
  config.model_kwargs.dropout = 0.0
  return config
