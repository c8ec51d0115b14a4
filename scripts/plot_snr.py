"""Measures the SNR against depth at initialisation: README figure and table.

For each model (the example models and a plain deep MLP, ReLU and tanh) and
each seed, the model is initialised with that seed, a probe batch of real
training inputs is drawn with it, and ``lerac_jax.measure_snr`` gives one SNR
per depth. The figure puts every model on one scale: left, the seed-mean SNR
in dB relative to depth 0 against depth; right, the fitted slope in dB per
depth (mean and spread of the per-seed fits). The table gives the slope, the
fit and whether the SNR falls. The per-seed profiles go to a JSON file, so
``--replot`` redraws the figure without measuring again.

Models with BatchNorm are measured in training mode (batch statistics), the
mode they are trained in.

Usage: python scripts/plot_snr.py [--out docs/snr.png] [--table docs/snr.md]
  [--data docs/snr.json] [--seeds 3] [--probe 256]
  [--models small_cnn,narrow_resnet,...] [--replot]
"""

import argparse
import json
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


def plot(results, path):
  """Draws every model's SNR profile and slope on shared scales.

  Args:
    results: model name -> (probe dataset, per-seed SNR profiles in dB).
    path: the PNG to write.
  """
  names = list(results)
  # Steepest fall first, so the slope panel reads top to bottom.
  slopes = {n: [np.polyfit(np.arange(len(d)), d, 1)[0]
                for d in results[n][1]] for n in names}
  names.sort(key=lambda n: np.mean(slopes[n]))
  colors = {n: f"C{i}" for i, n in enumerate(names)}
  fig, (left, right) = plt.subplots(
      1, 2, figsize=(9, 3.6), gridspec_kw=dict(width_ratios=(1.25, 1)))
  for name in names:
    dbs = results[name][1]
    mean = np.mean(dbs, axis=0)
    depth = np.arange(len(mean))
    left.plot(depth, mean - mean[0], "o-", ms=3, lw=1.4, color=colors[name],
              label=TITLES[name])
  left.axhline(0, color="gray", lw=0.8)
  left.set(xlabel="depth", ylabel="SNR relative to depth 0 (dB)")
  left.set_title("SNR against depth (mean of seeds)", fontsize=10)
  left.grid(alpha=0.3)
  y = np.arange(len(names))
  right.barh(y, [np.mean(slopes[n]) for n in names],
             xerr=[np.std(slopes[n]) for n in names], capsize=3,
             color=[colors[n] for n in names])
  right.set_yticks(y, [f"{TITLES[n]}\n({results[n][0]})" for n in names],
                   fontsize=8)
  right.invert_yaxis()
  right.axvline(0, color="gray", lw=0.8)
  for i, n in enumerate(names):  # the value beside each bar
    right.text(0.03, i, f"{np.mean(slopes[n]):+.2f}", va="center",
               fontsize=8)
  right.set_xlim(right=0.4)
  right.set_xlabel("slope (dB per depth)")
  right.set_title("Fitted slope (mean ± std of seeds)", fontsize=10)
  right.grid(axis="x", alpha=0.3)
  fig.suptitle("SNR of each depth's activations at initialisation "
               "(input noise at 0.1 std)", fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--out", default="docs/snr.png")
  parser.add_argument("--table", default="docs/snr.md")
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--probe", type=int, default=256)
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--data", default="docs/snr.json",
                      help="the per-seed profiles (written; read by --replot)")
  parser.add_argument("--replot", action="store_true",
                      help="redraw --out from --data without measuring")
  args = parser.parse_args()

  if args.replot:
    with open(args.data) as f:
      saved = json.load(f)["profiles_db"]
    plot({n: (d["dataset"], [np.asarray(p) for p in d["seeds"]])
          for n, d in saved.items()}, args.out)
    print(f"wrote {args.out} from {args.data}")
    return

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

  with open(args.data, "w") as f:
    json.dump(dict(seeds=args.seeds, probe=args.probe, profiles_db={
        n: dict(dataset=d, seeds=[np.round(p, 4).tolist() for p in dbs])
        for n, (d, dbs) in results.items()}), f, indent=1)
    f.write("\n")
  plot(results, args.out)
  print(f"wrote {args.out}, {args.table} and {args.data}")


if __name__ == "__main__":
  main()
