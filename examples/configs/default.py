# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Default: small CNN on the embedded digits, CPU-sized (the compare demo).

Every other config starts from this one and overrides what differs.
"""

import ml_collections

from examples import regimes


def get_config():
  """The default hyperparameter configuration."""
  config = ml_collections.ConfigDict()

  # Data (see examples/input_pipeline.py).
  config.dataset = 'digits'
  config.data_dir = ''  # '' = the loader's default search path
  config.download = False  # never touch the network unless asked
  config.tfds_reader = 'auto'  # auto | data_source | load
  config.validation_fraction = 0.1
  config.max_train_examples = 0  # 0 = all
  config.max_validation_examples = 0  # 0 = all of the held-out split
  config.max_test_examples = 0  # 0 = all (TFDS only)
  config.image_size = 0  # TFDS only: resize to this square size (0 = keep)
  config.seq_len = 64  # pydoc_text only

  # Model (see examples/models.py).
  config.model = 'small_cnn'  # any key of examples.models.MODELS
  config.model_kwargs = ml_collections.ConfigDict()

  # Optimisation.
  config.batch_size = 64
  config.eval_batch_size = 512
  config.num_epochs = 8
  config.num_train_steps = -1  # > 0 stops early (smoke tests)
  config.optimizer = 'sgd'  # sgd | adam | adamw | adamax
  config.learning_rate = 0.05
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  config.lr_schedule = 'cosine'  # constant | cosine | step (after the curriculum)
  config.step_decay_epochs = (35, 65, 95)
  config.step_decay_factor = 0.1
  config.warmup_init = 1e-3  # warmup regime: starts at eta0 * warmup_init

  # The regime of one run (main.py) and the curriculum length k.
  config.regime = 'lerac'
  config.k_epochs = 2.0  # k, in epochs (converted to optimizer steps)
  config.lerac = ml_collections.ConfigDict()
  config.lerac.schedule = 'exponential'  # any of lerac_jax.schedules.SCHEDULES
  config.lerac.min_scale = 1e-6  # eta_n(0) / eta0
  config.lerac.snr_probe_size = 256  # lerac/snr: training inputs probed
  config.lerac.group = 'layer'  # layer | block
  config.lerac.block_level = 1
  config.lerac.initial_ratios = 'geometric'  # geometric | decay
  config.lerac.decay_factor = 0.1
  config.lerac.staircase_factor = 10.0
  config.lerac.steps_per_event = 0  # staircase: 0 = spread events over k
  # > 0: the head (last depth) starts at this ratio on a curriculum of its
  # own (the official ResNet code's clf_lr); 0: it is a depth like the rest.
  config.lerac.head_ratio = 0.0

  # Curriculum by Smoothing: sigma * decay ** (epoch // every_epochs).
  config.cbs = ml_collections.ConfigDict()
  config.cbs.sigma = 1.0
  config.cbs.decay = 0.9
  config.cbs.every_epochs = 2

  # compare.py: regimes x seeds.
  config.regimes = regimes.REGIMES
  config.seeds = (0, 1, 2)

  config.seed = 0
  config.log_every = 1
  # False: evaluate test only at the end and when validation improves.
  config.eval_test_every_epoch = True
  config.tensorboard = True
  # True: per epoch, the last step's per-depth update norm, parameter norm,
  # ratio and effective learning rate (TensorBoard and console).
  config.log_depth_stats = False
  return config
