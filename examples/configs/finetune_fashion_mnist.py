# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Pre-train on half of Fashion-MNIST's classes, fine-tune on the rest.

A residual MLP (8 depths) is pre-trained, conventionally, on the even
classes (t-shirt, pullover, coat, shirt, bag; 5000 images each, 5 epochs)
and saved with orbax. Every fine-tuning run restores it, puts a new head on
it (initialised by the run's seed) and trains on the odd classes (trouser,
dress, sandal, sneaker, ankle boot) with 50 labelled images per class;
validation and test use every image of those classes.
``config.finetune.init = 'scratch'`` trains the same task from random
weights. (With this split and 50 labels per class the pre-trained model
starts ahead; with the classes split 0-4 / 5-9, or with 100 or more labels
per class, the residual MLP did as well or better from scratch.)

The regimes ``layer_decay`` and ``unfreeze`` (see :mod:`examples.regimes`)
need the library's layer-wise engine. Run one arm with::

    python -m examples.main --workdir=/tmp/ft \\
        --config=examples/configs/finetune_fashion_mnist.py \\
        --config.regime=warmup

Needs the local IDX files (see examples/README.md, "Data").
"""

import ml_collections

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'fashion_mnist'
  config.validation_fraction = 0.1
  config.model = 'residual_mlp'
  config.model_kwargs.num_depths = 8
  config.model_kwargs.width = 128
  config.optimizer = 'sgd'
  config.learning_rate = 0.03
  config.momentum = 0.9
  config.weight_decay = 5e-4
  config.batch_size = 16
  config.num_epochs = 30
  config.lr_schedule = 'cosine'
  config.k_epochs = 1.5  # k/T = 5%
  config.lerac.group = 'block'
  config.lerac.head_ratio = 0.0  # 0: the head keeps its depth's ratio
  config.regime = 'lerac'
  config.regimes = ('conventional', 'warmup', 'lerac', 'layer_decay',
                    'unfreeze')
  config.eval_test_every_epoch = False
  config.tensorboard = False

  # Fine-tuning regimes (need the library's layer-wise engine).
  config.layer_decay = ml_collections.ConfigDict()
  config.layer_decay.decay = 0.8  # depth d of D: decay ** (D - 1 - d)
  config.unfreeze = ml_collections.ConfigDict()
  config.unfreeze.steps_per_depth = 0  # 0: the releases spread over k

  config.finetune = ml_collections.ConfigDict()
  config.finetune.init = 'pretrained'  # pretrained | scratch
  config.finetune.classes = (1, 3, 5, 7, 9)
  config.finetune.labels_per_class = 50
  config.finetune.checkpoint_dir = ''  # '' = ~/.cache/lerac_jax/pretrained
  config.finetune.pretrain = ml_collections.ConfigDict()
  config.finetune.pretrain.classes = (0, 2, 4, 6, 8)
  config.finetune.pretrain.examples_per_class = 5000
  config.finetune.pretrain.num_epochs = 5
  config.finetune.pretrain.batch_size = 64
  config.finetune.pretrain.optimizer = 'sgd'
  config.finetune.pretrain.learning_rate = 0.05
  config.finetune.pretrain.momentum = 0.9
  config.finetune.pretrain.weight_decay = 5e-4
  config.finetune.pretrain.seed = 0
  return config
