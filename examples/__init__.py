# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""A Flax training program that compares LeRaC with its controls.

Run ``python -m examples.compare`` (see examples/README.md).
"""
