# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The preregistered proportional study's setting: the paper's k/T on CPU.

Small CNN on a fixed 10k-image subset of real Fashion-MNIST (5k validation
images held out of the 60k training split, the full 10k test set), SGD with
momentum, T = 20 epochs with step decay x0.1 at epochs 7, 13 and 19 (the
official code's 35/65/95 of 100 epochs, scaled), and k = 1 epoch, so
k/T = 5%. ``benchmarks/proportional_study.py`` runs its arms over paired seeds.
"""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'fashion_mnist'
  config.validation_fraction = 5000 / 60000  # 5k held-out images
  config.max_train_examples = 10000
  config.max_validation_examples = 0
  config.model = 'small_cnn'
  config.optimizer = 'sgd'
  config.learning_rate = 0.05
  config.momentum = 0.9
  config.weight_decay = 5e-4
  config.batch_size = 64
  config.num_epochs = 20
  config.lr_schedule = 'step'
  config.step_decay_epochs = (7, 13, 19)
  config.step_decay_factor = 0.1
  config.k_epochs = 1.0
  config.eval_test_every_epoch = False
  config.tensorboard = False
  config.log_every = 10**9  # the study keeps per-epoch records only
  return config
