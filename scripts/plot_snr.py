"""Measures the SNR against depth at initialisation: README figure and table.

For each model (the example models and a plain deep MLP, ReLU and tanh) and
each seed, the model is initialised with that seed, a probe batch of real
training inputs is drawn with it, and ``lerac_jax.measure_snr`` gives one SNR
per depth. The figure shows the SNR in dB against depth, one line per seed,
and the log-linear fit over all seeds; the table gives the fitted slope in dB
per depth (mean and spread of the per-seed fits) and whether the SNR falls.

Models with BatchNorm are measured in training mode (batch statistics), the
mode they are trained in.

Usage: python scripts/plot_snr.py [--out docs/snr.png] [--table docs/snr.md]
  [--seeds 3] [--probe 256] [--models small_cnn,narrow_resnet,...]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

import lerac_jax
from examples import input_pipeline
from examples import models

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

MODELS = ("mlp_relu", "mlp_tanh", "small_cnn", "narrow_resnet", "resnet18",
          "vit", "char_transformer")
TITLES = {
    "mlp_relu": "MLP, 8 x 128, ReLU",
    "mlp_tanh": "MLP, 8 x 128, tanh",
    "small_cnn": "small CNN",
    "narrow_resnet": "ResNet-8 (narrow)",
    "resnet18": "ResNet-18",
    "vit": "ViT (4 blocks)",
    "char_transformer": "char Transformer (2 blocks)",
}
DATA = {"mlp_relu": "digits", "mlp_tanh": "digits", "vit": "digits",
        "char_transformer": "pydoc_text"}
MODEL_KWARGS = {"vit": dict(patch_size=2, dim=64, depth=4, num_heads=4,
                            mlp_dim=128)}
# A fall smaller than this over all depths is "flat" (the threshold below
# which lerac_jax.snr_ratios warns that it prescribes little curriculum).
FLAT_DB = 1.0


def mlp(act, depth=8, width=128):
  """A plain MLP without residuals or norms, default (LeCun normal) init."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  class MLP(nn.Module):

    @nn.compact
    def __call__(self, x, train=False):
      del train
      x = x.reshape((x.shape[0], -1))
      for i in range(depth):
        x = act(nn.Dense(width, name=f"dense{i}")(x))
      return nn.Dense(10, name="head")(x)

  return MLP()


def build(name, num_classes):
  if name == "mlp_relu":
    return mlp(jax.nn.relu)
  if name == "mlp_tanh":
    return mlp(jnp.tanh)
  return models.create_model(name, num_classes, **MODEL_KWARGS.get(name, {}))


def load(dataset):
  if dataset == "digits":
    return input_pipeline.load_digits()
  if dataset == "pydoc_text":
    return input_pipeline.load_pydoc_text()
  return input_pipeline.load_fashion_mnist()


def profile(name, data, seed, probe):
  """(SNR per depth, seconds) of model ``name`` initialised with ``seed``."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(data.train[0][rng.choice(len(data.train[0]), probe,
                                          replace=False)])
  model = build(name, data.num_classes)
  variables = model.init(jax.random.key(seed), x[:2], train=False)
  others = {k: v for k, v in variables.items() if k != "params"}

  def fn(p, x):
    if "batch_stats" in others:
      return model.apply({"params": p, **others}, x, train=True,
                         mutable=["batch_stats"])[0]
    return model.apply({"params": p, **others}, x, train=False)

  start = time.perf_counter()
  snr = lerac_jax.measure_snr(fn, variables["params"], x,
                              key=jax.random.key(1000 + seed))
  return np.asarray(snr), time.perf_counter() - start


def fit_db(profiles_db):
  """Least-squares line through all seeds' dB values: (slope, intercept)."""
  depth = np.concatenate([np.arange(len(p)) for p in profiles_db])
  return np.polyfit(depth, np.concatenate(profiles_db), 1)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default="docs/snr.png")
  parser.add_argument("--table", default="docs/snr.md")
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--probe", type=int, default=256)
  parser.add_argument("--models", default=",".join(MODELS))
  args = parser.parse_args()

  names = args.models.split(",")
  cache = {}
  rows, results = [], {}
  for name in names:
    dataset = DATA.get(name, "fashion_mnist")
    if dataset not in cache:
      cache[dataset] = load(dataset)
    got = [profile(name, cache[dataset], s, args.probe)
           for s in range(args.seeds)]
    dbs = [10 * np.log10(snr) for snr, _ in got]
    results[name] = (dataset, dbs)
    slopes = [np.polyfit(np.arange(len(d)), d, 1)[0] for d in dbs]
    slope, intercept = fit_db(dbs)
    mean = np.mean(dbs, axis=0)
    fitted = intercept + slope * np.arange(len(mean))
    r2 = 1 - np.sum((mean - fitted) ** 2) / max(np.sum(
        (mean - mean.mean()) ** 2), 1e-12)
    fall = mean[0] - mean[-1]
    falls = all(s < 0 for s in slopes) and slope * (len(mean) - 1) < -FLAT_DB
    rows.append((TITLES[name], dataset, len(mean), mean[0], mean[-1],
                 np.mean(slopes), np.std(slopes), r2, fall,
                 "yes" if falls else "no",
                 np.mean([t for _, t in got])))
    print(f"{name}: {len(mean)} depths, dB per depth {np.mean(slopes):+.3f} "
          f"(seeds {', '.join(f'{s:+.3f}' for s in slopes)}), "
          f"{mean[0]:.1f} -> {mean[-1]:.1f} dB, "
          f"{np.mean([t for _, t in got]):.1f} s per profile", flush=True)

  header = ("| model | probe data | depths | SNR at depth 0 (dB) | SNR at the "
            "deepest (dB) | slope (dB per depth) | R² of the log-linear fit "
            "| fall (dB) | falls? | s per profile |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
  body = "".join(
      f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | "
      f"{r[5]:+.2f} ± {r[6]:.2f} | {r[7]:.2f} | {r[8]:.1f} | {r[9]} | "
      f"{r[10]:.1f} |\n" for r in rows)
  note = (f"\n{args.seeds} seeds (initialisation, probe batch and noise), "
          f"probe batch {args.probe}, noise at 0.1 of the input's std. Slope: "
          "mean ± std of the per-seed least-squares fits of the SNR in dB "
          "against depth; R²: of the pooled fit to the seed-mean profile. "
          f"'Falls': every seed's slope is negative and the fit falls by more "
          f"than {FLAT_DB:g} dB over all depths. Written by "
          "scripts/plot_snr.py.\n")
  with open(args.table, "w") as f:
    f.write(header + body + note)
  print(header + body + note)

  cols = min(4, len(names))
  nrows = -(-len(names) // cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows),
                           squeeze=False)
  for ax, name in zip(axes.flat, names):
    dataset, dbs = results[name]
    depth = np.arange(len(dbs[0]))
    for s, d in enumerate(dbs):
      ax.plot(depth, d, "o-", ms=3, lw=1, alpha=0.6, color=f"C{s}",
              label=f"seed {s}")
    slope, intercept = fit_db(dbs)
    ax.plot(depth, intercept + slope * depth, "k--", lw=1.2,
            label=f"fit {slope:+.2f} dB/depth")
    ax.set_title(f"{TITLES[name]} ({dataset})", fontsize=10)
    ax.set_xlabel("depth")
    ax.set_ylabel("SNR (dB)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(names):]:
    ax.axis("off")
  fig.suptitle("SNR of each depth's activations at initialisation "
               "(input noise at 0.1 std)", fontsize=11)
  fig.tight_layout()
  fig.savefig(args.out, dpi=120)
  print(f"wrote {args.out} and {args.table}")


if __name__ == "__main__":
  main()
