# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Character-level Transformer LM on CPython's pydoc text (bits per char).

The language-domain example: real English shipped with CPython
(``pydoc_data.topics``), a 2-block causal Transformer, AdamW as in the
paper's LSTM row of Table 1. CBS blurs the attention output with a causal
1-D Gaussian along the sequence, so no future character leaks in.
"""

from examples.configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'pydoc_text'
  config.seq_len = 64
  config.validation_fraction = 0.05
  config.max_train_examples = 2000
  config.model = 'char_transformer'
  config.model_kwargs.dim = 64
  config.model_kwargs.depth = 2
  config.model_kwargs.num_heads = 4
  config.model_kwargs.mlp_dim = 256
  config.optimizer = 'adamw'
  config.learning_rate = 3e-3
  config.weight_decay = 1e-4
  config.batch_size = 32
  config.eval_batch_size = 256
  config.num_epochs = 3
  config.k_epochs = 1.0
  config.lerac.min_scale = 1e-4  # Table 1, LSTM: 1e-3 -> 1e-7
  config.lerac.group = 'block'
  config.cbs.every_epochs = 1
  config.regimes = ('conventional', 'warmup', 'lerac', 'cbs', 'cbs+lerac')
  return config
