# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Paper-sized: ResNet-18 on CIFAR-10, 200 epochs (needs TFDS data + a GPU).

Table 1 of the paper: SGD, batch 64, eta0 = 0.1, LeRaC k = 5
(epochs; one update event per epoch in the official code), rates from 1e-1
down to 1e-8 at the deepest depth, c = 10; CBS sigma 1, decay 0.9 every 5
epochs (CBS defaults). Weight decay 5e-4 and the step decay at epochs
35/65/95 follow the official CBS/LeRaC code. No augmentation,
Normalize(0.5, 0.5). 10% of train is held out for validation (the paper's
protocol; the official code selected on test).

Data: ``cifar10`` prepared in ``--data_dir`` (array_record: no TensorFlow
needed; tfrecord: needs TensorFlow). See examples/README.md.
"""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'cifar10'
  config.validation_fraction = 0.1
  config.model = 'resnet18'
  config.batch_size = 64
  config.eval_batch_size = 1000
  config.num_epochs = 200
  config.optimizer = 'sgd'
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.weight_decay = 5e-4
  config.lr_schedule = 'step'
  config.step_decay_epochs = (35, 65, 95)
  config.step_decay_factor = 0.1
  config.k_epochs = 5.0
  config.lerac.schedule = 'exponential'
  config.lerac.min_scale = 1e-7  # 1e-1 -> 1e-8
  config.lerac.group = 'block'  # stem, 8 basic blocks, head (as the code)
  config.cbs.sigma = 1.0
  config.cbs.decay = 0.9
  config.cbs.every_epochs = 5
  config.regimes = ('conventional', 'warmup', 'lerac', 'cbs', 'cbs+lerac')
  config.seeds = (0, 1, 2, 3, 4)  # the paper reports 5 runs
  config.log_every = 10
  return config
