# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""One ml_collections config file per experiment."""
