# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Paper-sized: ResNet-18 on CIFAR-100, 200 epochs (needs TFDS data + a GPU).

As cifar10_resnet18.py, with the CIFAR-100 settings of the official LeRaC
code: k = 6 epochs, step decay at epochs 36/66/96.
"""

from examples.configs import cifar10_resnet18


def get_config():
  config = cifar10_resnet18.get_config()
  config.dataset = 'cifar100'
  config.step_decay_epochs = (36, 66, 96)
  config.k_epochs = 6.0
  return config
