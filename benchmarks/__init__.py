# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Benchmarks for lerac_jax (see benchmarks/README.md)."""
