# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Does LeRaC help? A resumable multi-seed study on real Fashion-MNIST.

The reviewers' questions, on data this machine has (the Debian package
``dataset-fashion-mnist``; by default 10k of the 60k training images, sized for
about two hours on 2 cores, and the full 10k test set):

* the warm-up control (a global linear warm-up over the same k);
* optimizer interplay (SGD with momentum, Adam);
* scheduler shapes (the five LeRaC schedules), the reversed order, CBS and
  CBS + LeRaC;
* sweeps of k and ``min_scale`` for the exponential schedule;
* learning curves and significance (paired t-test, Wilcoxon, McNemar).

Every (model, optimizer, regime, setting) runs with the same seeds, and a
seed fixes both the initial weights and the data order, so runs are paired.
Runs go seed by seed: a partial study already holds complete paired
comparisons for its first seeds. After every run the results JSON is
rewritten atomically; a killed study picks up where it stopped.

Usage::

  python benchmarks/accuracy.py                  # the study (resumes)
  python benchmarks/accuracy.py --report         # tables + figure from JSON
  python benchmarks/accuracy.py --quick --out /tmp/acc.json   # smoke run
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from examples import cbs
from examples import config_check
from benchmarks import study_io
from examples import plots
from examples import stats
from examples import train
from examples.configs import default as default_config

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DEFAULT_OUT = os.path.join(RESULTS, "accuracy_fashion_mnist.json")

REGIMES = ("conventional", "warmup", "lerac", "lerac/linear", "lerac/log",
           "lerac/cosine", "lerac/staircase", "lerac_reverse", "cbs",
           "cbs+lerac")
OPTIMIZERS = {  # name -> (learning rate, weight decay)
    "sgd": (0.05, 5e-4),
    "adam": (1e-3, 0.0),
}


def study_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
  """Every run of the study, seed-major, as settings dicts."""
  runs = []
  for seed in range(args.seeds):
    for model in args.models:
      for optimizer in args.optimizers:
        for regime in args.regimes:
          runs.append(dict(model=model, optimizer=optimizer, regime=regime,
                           k_epochs=args.k_epochs, min_scale=args.min_scale,
                           seed=seed, study="main"))
    # Sweeps of k and min_scale: exponential LeRaC, first model, SGD.
    for k in args.sweep_k:
      runs.append(dict(model=args.models[0], optimizer=args.optimizers[0],
                       regime="lerac", k_epochs=k, min_scale=args.min_scale,
                       seed=seed, study="sweep_k"))
    for s in args.sweep_min_scale:
      runs.append(dict(model=args.models[0], optimizer=args.optimizers[0],
                       regime="lerac", k_epochs=args.k_epochs, min_scale=s,
                       seed=seed, study="sweep_min_scale"))
  keys = [run_key(r) for r in runs]
  assert len(keys) == len(set(keys)), "duplicate runs in the plan"
  return runs


def run_key(run: dict[str, Any]) -> str:
  return (f"{run['model']}|{run['optimizer']}|{run['regime']}"
          f"|k={run['k_epochs']:g}|min_scale={run['min_scale']:g}"
          f"|seed={run['seed']}")


def make_config(run: dict[str, Any], args: argparse.Namespace):
  config = default_config.get_config()
  config.dataset = args.dataset
  config.data_dir = args.data_dir
  config.max_train_examples = args.max_train_examples
  config.max_validation_examples = args.max_validation_examples
  config.eval_test_every_epoch = False
  config.tensorboard = False
  config.log_every = 10**9  # per-step logs are not kept in the study JSON
  config.model = run["model"]
  config.batch_size = args.batch_size
  config.num_epochs = args.epochs
  config.num_train_steps = args.num_train_steps
  config.optimizer = run["optimizer"]
  config.learning_rate, config.weight_decay = OPTIMIZERS[run["optimizer"]]
  config.lr_schedule = "cosine"
  config.k_epochs = run["k_epochs"]
  config.lerac.min_scale = run["min_scale"]
  config.lerac.group = "layer"
  # CBS decays sigma every epoch by the factor that brings it to
  # cbs_final_sigma in the last epoch, as CBS's own schedule nearly removes
  # the blur by the end of its 200 epochs.
  config.cbs.every_epochs = 1
  config.cbs.decay = cbs.decay_to_reach(args.cbs_final_sigma, args.epochs,
                                        config.cbs.sigma, 1)
  config.regime = run["regime"]
  config_check.validate(config)
  return config


def compact(result: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
  """What the study keeps of one ``train_and_evaluate`` result."""
  final, best = result["final"], result["best"]
  n = len(final["test_correct"]) if final["test_correct"] is not None else 0
  return {
      **run, "steps": result["steps"], "epochs": result["epochs"],
      "num_depths": result["num_depths"],
      "wall_time": result["wall_time"], "num_test": n,
      "final": {"val": final["val"], "test": final["test"],
                "test_correct": study_io.pack_bools(final["test_correct"])},
      "best": {"epoch": best["epoch"], "val": best["val"],
               "test": best["test"]},
      "history": [{"step": h["step"], "epoch": h["epoch"],
                   "val_accuracy": h["val_accuracy"],
                   **({"cbs_sigma": h["cbs_sigma"]} if "cbs_sigma" in h
                      else {})}
                  for h in result["history"]],
  }


# Settings that change only some regimes' runs: a change of one of them may
# replace just those runs (``--rerun_regimes``) instead of the whole study.
REGIME_SETTINGS = {"cbs_final_sigma": ("cbs", "cbs+lerac")}


def replace_changed_runs(data: dict[str, Any], settings: dict[str, Any],
                         rerun_regimes: list[str], path: str) -> None:
  """Drops the runs a settings change invalidates, and records that it did.

  A study file refuses other settings, unless every changed setting is one of
  ``REGIME_SETTINGS``, only affects regimes listed in ``rerun_regimes``, and
  those regimes' runs are deleted here (to be run again with the new
  settings). What was deleted is kept in ``meta["reruns"]``: the changed
  settings, old and new, and each removed run's test accuracies. With
  unchanged settings this does nothing, so an interrupted rerun resumes.

  Args:
    data: the study JSON (modified in place).
    settings: the settings of this invocation.
    rerun_regimes: the regimes the caller allows to be replaced.
    path: the file's path, for the error message.

  Raises:
    SystemExit: if the file holds runs with settings this cannot reconcile.
  """
  old = data["meta"].get("settings", settings)
  if not data["runs"] or old == settings:
    return
  changed = sorted(k for k in set(old) | set(settings)
                   if old.get(k) != settings.get(k))
  affected = {g for k in changed for g in REGIME_SETTINGS.get(k, ())}
  if not all(k in REGIME_SETTINGS for k in changed) or not (
      affected <= set(rerun_regimes)):
    raise SystemExit(
        f"{path} holds a study with other settings ({old}); changed: "
        f"{changed}. Use another --out"
        + (f", or --rerun_regimes {','.join(sorted(affected))} to replace "
           "those runs" if all(k in REGIME_SETTINGS for k in changed)
           else "") + ".")
  removed = {key: {"final_test": r["final"]["test"],
                   "best_test": r["best"]["test"]}
             for key, r in data["runs"].items() if r["regime"] in affected}
  for key in removed:
    del data["runs"][key]
  data["meta"].setdefault("reruns", []).append({
      "regimes": sorted(affected),
      "changed_settings": {k: [old.get(k), settings.get(k)] for k in changed},
      "command": " ".join(sys.argv),
      "date": time.strftime("%Y-%m-%d"),
      "removed": removed,
  })


def run_study(args: argparse.Namespace) -> dict[str, Any]:
  data = study_io.load_results(args.out)
  settings = {k: v for k, v in vars(args).items()
              if k not in ("out", "report", "max_runs", "quick",
                           "rerun_regimes")}
  replace_changed_runs(data, settings, args.rerun_regimes, args.out)
  data["meta"]["settings"] = settings
  data["meta"].setdefault("command", " ".join(sys.argv))
  plan = study_plan(args)
  todo = [r for r in plan if run_key(r) not in data["runs"]]
  for run in todo:  # every run's config is validated before any training
    make_config(run, args)
  print(f"{len(plan)} runs in the study, {len(plan) - len(todo)} done, "
        f"{len(todo)} to go -> {args.out}", flush=True)
  datasets, setups = {}, {}
  t0 = time.time()
  for i, run in enumerate(todo[:args.max_runs or None]):
    config = make_config(run, args)
    if args.dataset not in datasets:
      datasets[args.dataset] = train.load_dataset(config)
    skey = run_key({**run, "seed": "-"})
    if skey not in setups:
      setups[skey] = train.create_setup(config, run["regime"],
                                        datasets[args.dataset])
    result = train.train_and_evaluate(config, setup=setups[skey],
                                      seed=run["seed"], progress=False)
    data["runs"][run_key(run)] = compact(result, run)
    study_io.save_results(args.out, data)
    print(f"[{i + 1}/{len(todo)}] {run_key(run)}: test "
          f"{result['final']['test']:.4f} ({result['wall_time']:.0f} s; "
          f"{time.time() - t0:.0f} s total)", flush=True)
  return data


# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------


def _as_stats_runs(runs: list[dict[str, Any]], label) -> list[dict[str, Any]]:
  """Study records in the shape ``examples.stats.summarise`` reads."""
  out = []
  for r in runs:
    final = dict(r["final"])
    final["test_correct"] = study_io.unpack_bools(final["test_correct"], r["num_test"])
    out.append({"regime": label(r), "seed": r["seed"], "metric": "accuracy",
                "higher_is_better": True, "final": final, "best": r["best"],
                "history": r["history"]})
  return out


HEADLINE_HEAD = [
    "| setting | seeds | conventional | warmup | lerac (exponential) "
    "| best other lerac schedule (post hoc, not tested) | lerac_reverse | cbs "
    "| cbs+lerac |",
    "|" + "---|" * 9]


def headline_row(setting: str, seeds: list[int],
                 rows: list[dict[str, Any]]) -> str:
  """One line of the headline table from ``stats.summarise`` rows.

  A difference is starred when its Holm-adjusted t-test p (over the
  setting's table) is below 0.05. The best other LeRaC schedule is picked on
  the test mean, so it is shown without a star: picking the best of four
  and then testing it would overstate the evidence.
  """
  by = {r["regime"]: r for r in rows}

  def cell(regime: str, name: str = "", starred: bool = True) -> str:
    if regime not in by:
      return ""
    f = by[regime]["final"]
    text = f"{name}{100 * f['mean']:.2f} ± {100 * f['std']:.2f}"
    if "mean_diff" in f:
      star = "*" if starred and f.get("t_pvalue_holm", 1.0) < 0.05 else ""
      text += f" ({100 * f['mean_diff']:+.2f}{star})"
    return text

  others = [g for g in by if g.startswith("lerac/")]
  best = max(others, key=lambda g: by[g]["final"]["mean"], default=None)
  cells = [setting, str(len(seeds)), cell("conventional"), cell("warmup"),
           cell("lerac"),
           cell(best, best.split("/")[1] + " ", starred=False) if best else "",
           cell("lerac_reverse"), cell("cbs"), cell("cbs+lerac")]
  return "| " + " | ".join(cells) + " |"


def lerac_regimes(labels: list[str]) -> list[str]:
  """The columns of the LeRaC-vs-warm-up table."""
  return [l for l in labels if l.startswith("lerac")]


def warmup_table(columns: list[str],
                 rows_by_setting: dict[str, list[dict[str, Any]]]) -> str:
  """The LeRaC-vs-warm-up table: every cell's t-test in one Holm/BH family.

  Args:
    columns: the LeRaC regimes, one column each.
    rows_by_setting: per setting, ``stats.summarise(..., baseline="warmup")``.

  Returns:
    Markdown: difference from warmup, raw / Holm / BH t-test p per cell.
  """
  cells = [(setting, l, by[l]) for setting, rows in rows_by_setting.items()
           for by in [{r["regime"]: r["final"] for r in rows}]
           for l in columns if "mean_diff" in by.get(l, {})]
  raw = [f.get("t_pvalue", math.nan) for _, _, f in cells]
  holm = stats.adjust_pvalues(raw, "holm")
  bh = stats.adjust_pvalues(raw, "fdr_bh")
  text = {(setting, l): f"{100 * f['mean_diff']:+.2f} ({stats.format_p(p)}"
          f" / {stats.format_p(h)} / {stats.format_p(b)})"
          for (setting, l, f), p, h, b in zip(cells, raw, holm, bh)}
  lines = [f"| setting | {' | '.join(columns)} |",
           "|" + "---|" * (len(columns) + 1)]
  for setting in rows_by_setting:
    lines.append("| " + " | ".join(
        [setting] + [text.get((setting, l), "") for l in columns]) + " |")
  return "\n".join(lines)


def family_summary(tests: dict[str, float]) -> str:
  """How many of all the report's distinct t-tests survive Holm and BH.

  Args:
    tests: one raw p-value per distinct comparison (a key naming both arms),
      so a comparison shown in two tables counts once.

  Returns:
    One sentence.
  """
  raw = [p for p in tests.values() if not math.isnan(p)]
  if not raw:
    return ""
  holm = stats.adjust_pvalues(raw, "holm")
  bh = stats.adjust_pvalues(raw, "fdr_bh")
  count = lambda ps: sum(p < 0.05 for p in ps)  # noqa: E731
  return (f"Taking all {len(raw)} distinct t-tests of this report as one "
          f"family instead, {count(raw)} have raw p < 0.05, {count(holm)} "
          f"Holm-adjusted p < 0.05 and {count(bh)} Benjamini-Hochberg-"
          "adjusted p < 0.05.\n")


def cbs_note(settings: dict[str, Any], meta: dict[str, Any]) -> str:
  """What the CBS rows ran with, and whether earlier CBS runs were replaced."""
  final = settings.get("cbs_final_sigma")
  if final is None:
    text = "CBS: sigma 1.0, x0.9 every epoch."
  else:
    decay = cbs.decay_to_reach(final, settings["epochs"])
    text = (f"CBS: sigma 1.0 in the first epoch, x{decay:.3g} every epoch, "
            f"{cbs.sigma_at_epoch(settings['epochs'] - 1, 1.0, decay, 1):.3g}"
            " in the last.")
  for rerun in meta.get("reruns", []):
    text += (f" {len(rerun['removed'])} earlier runs of "
             f"{', '.join(rerun['regimes'])} (settings "
             f"{rerun['changed_settings']}, old and new) were deleted and run "
             f"again on {rerun['date']}; their accuracies are kept in the "
             "JSON's meta.reruns.")
  return text + "\n"


def complete_seeds(runs: list[dict[str, Any]], labels: list[str],
                   label) -> list[int]:
  """Seeds for which every label has a run (a fair, paired comparison)."""
  have = {(label(r), r["seed"]) for r in runs}
  seeds = sorted({r["seed"] for r in runs})
  return [s for s in seeds if all((l, s) in have for l in labels)]


def report(data: dict[str, Any], out_prefix: str) -> str:
  """Markdown tables (and a learning-curve figure) from the study JSON."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  settings = data["meta"].get("settings", {})
  runs = list(data["runs"].values())
  lines, headline, versus_warmup = [], [], {}
  tests = {}  # distinct comparison -> raw final-epoch t-test p

  def note_tests(rows, chosen, label, baseline):
    ident = {label(r): run_key({**r, "seed": "-"}) for r in chosen}
    for row in rows:
      if "mean_diff" in row["final"]:
        tests[(ident[row["regime"]], ident[baseline])] = row["final"].get(
            "t_pvalue", math.nan)

  # In the plan's order: models, then optimizers.
  groups = [(m, o) for m in settings.get("models", ()) for o in settings.get(
      "optimizers", ()) if any(r["model"] == m and r["optimizer"] == o
                               for r in runs)]
  fig, axes = plt.subplots(1, max(1, len(groups)),
                           figsize=(5.5 * max(1, len(groups)), 4),
                           squeeze=False)
  for ax, (model, optimizer) in zip(axes[0], groups):
    group = [r for r in runs if r["study"] == "main"
             and r["model"] == model and r["optimizer"] == optimizer]
    labels = list(settings.get("regimes", REGIMES))
    seeds = complete_seeds(group, labels, lambda r: r["regime"])
    chosen = [r for r in group if r["seed"] in seeds]
    if not seeds:
      lines.append(f"#### {model}, {optimizer}: {len(group)} runs so far; no "
                   f"seed has all {len(labels)} regimes yet\n")
      ax.set_axis_off()
      ax.set_title(f"{model}, {optimizer}: incomplete")
      continue
    stats_runs = _as_stats_runs(
        sorted(chosen, key=lambda r: labels.index(r["regime"])),
        lambda r: r["regime"])
    rows = stats.summarise(stats_runs)
    note_tests(rows, chosen, lambda r: r["regime"], "conventional")
    headline.append(headline_row(f"{model}, {optimizer}", seeds, rows))
    if "warmup" in labels:  # the reviewers' control: LeRaC vs warm-up
      rows_vs_warmup = [r for r in stats.summarise(stats_runs,
                                                   baseline="warmup")
                        if r["regime"] in lerac_regimes(labels)]
      note_tests(rows_vs_warmup, chosen, lambda r: r["regime"], "warmup")
      versus_warmup[f"{model}, {optimizer}"] = rows_vs_warmup
    lines.append(f"#### {model}, {optimizer} (seeds {seeds})\n")
    lines.append(stats.format_table(rows))
    lines.append("")
    plots.draw_learning_curves(ax, stats_runs)
    top = max(h["val_accuracy"] for r in chosen for h in r["history"])
    ax.set_ylim(max(0.0, top - 0.25), min(1.0, top + 0.02))
    ax.set_title(f"{model}, {optimizer}: validation accuracy")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  if groups:
    axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(out_prefix + "_learning_curves.png", dpi=100)

  for study, field in (("sweep_k", "k_epochs"),
                       ("sweep_min_scale", "min_scale")):
    sweep = [r for r in runs if r["study"] == study]
    if not sweep:
      continue
    model, optimizer = sweep[0]["model"], sweep[0]["optimizer"]
    base = [r for r in runs if r["study"] == "main" and r["model"] == model
            and r["optimizer"] == optimizer
            and r["regime"] in ("conventional", "lerac")]
    label = lambda r, f=field: (  # noqa: E731
        "conventional" if r["regime"] == "conventional"
        else f"lerac {f}={r[f]:g}")
    both = base + sweep
    labels = list(dict.fromkeys(["conventional"] + [
        label(r) for r in sorted(both, key=lambda r: r[field])
        if r["regime"] == "lerac"]))
    seeds = complete_seeds(both, labels, label)
    if not seeds:
      continue
    chosen = [r for r in both if r["seed"] in seeds]
    rows = stats.summarise(_as_stats_runs(
        sorted(chosen, key=lambda r: labels.index(label(r))), label))
    note_tests(rows, chosen, label, "conventional")
    lines.append(f"#### Sweep of {field}: {model}, {optimizer}, exponential "
                 f"(seeds {seeds})\n")
    lines.append(stats.format_table(rows))
    lines.append("")
  done = len(runs)
  total = len(study_plan(argparse.Namespace(**settings))) if settings else done
  wall = sum(r["wall_time"] for r in runs)
  header = (f"{done} of {total} planned runs done ({wall / 60:.0f} min of "
            f"training); only seeds with every regime of a table are used.\n")
  header += cbs_note(settings, data["meta"])
  if headline:
    header += ("\nHeadline: final-epoch test accuracy %, mean ± std over "
               "seeds (difference from conventional; * Holm-adjusted paired "
               "t-test p < 0.05, the family being the setting's table below, "
               "every regime against conventional).\n\n"
               + "\n".join(HEADLINE_HEAD + headline) + "\n")
  if versus_warmup:
    columns = lerac_regimes(settings.get("regimes", REGIMES))
    header += ("\nAgainst the warm-up control: final-epoch test accuracy "
               "difference from warmup, points (paired t-test p: raw / Holm / "
               "Benjamini-Hochberg, the family being all the t-tests of this "
               "table).\n\n" + warmup_table(columns, versus_warmup) + "\n")
  if tests:
    header += "\n" + family_summary(tests)
  header += ("\nIn the tables below, Holm and BH adjust each table's t-tests "
             "(every row against conventional) as one family. McNemar is "
             "descriptive: per seed it tests one pair of trained networks on "
             "the test examples, not the variation across seeds; the column "
             "counts the seeds with p < 0.05.\n")
  text = header + "\n" + "\n".join(lines)
  with open(out_prefix + ".md", "w") as f:
    f.write(text)
  return text


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default=DEFAULT_OUT)
  p.add_argument("--report", action="store_true",
                 help="only write the tables and figure from --out")
  p.add_argument("--quick", action="store_true",
                 help="tiny smoke setting (digits, 2 regimes, 2 seeds)")
  p.add_argument("--dataset", default="fashion_mnist")
  p.add_argument("--data_dir", default="")
  p.add_argument("--models", default="small_cnn,narrow_resnet",
                 type=lambda s: s.split(","))
  p.add_argument("--optimizers", default="sgd,adam",
                 type=lambda s: s.split(","))
  p.add_argument("--regimes", default=",".join(REGIMES),
                 type=lambda s: s.split(","))
  p.add_argument("--seeds", type=int, default=5)
  p.add_argument("--epochs", type=int, default=2)
  p.add_argument("--k_epochs", type=float, default=0.5)
  p.add_argument("--min_scale", type=float, default=1e-6)
  p.add_argument("--sweep_k", default="0.25,1.0",
                 type=lambda s: [float(x) for x in s.split(",") if x])
  p.add_argument("--sweep_min_scale", default="1e-2,1e-4,1e-8",
                 type=lambda s: [float(x) for x in s.split(",") if x])
  p.add_argument("--cbs_final_sigma", type=float, default=0.05,
                 help="CBS sigma in the last epoch (from 1.0 in the first, "
                 "decayed every epoch)")
  p.add_argument("--batch_size", type=int, default=128)
  # 10k of the 60k training images: about 2 hours for the whole study on 2
  # cores. 0 uses all of them: one epoch of the 54k left after the validation
  # split took 70 s (small_cnn) and 109 s (narrow_resnet), so the 225 runs
  # would need about 5.5 hours even at 1 epoch.
  p.add_argument("--max_train_examples", type=int, default=10000)
  p.add_argument("--max_validation_examples", type=int, default=5000)
  p.add_argument("--num_train_steps", type=int, default=-1)
  p.add_argument("--max_runs", type=int, default=0,
                 help="stop after this many new runs (0: all)")
  p.add_argument("--rerun_regimes", default="", type=lambda s: [
      x for x in s.split(",") if x], help="regimes whose runs may be deleted "
                 "and run again when a setting only they use has changed "
                 "(recorded in the JSON's meta.reruns)")
  args = p.parse_args(argv)
  if args.quick:  # smaller defaults; an option given explicitly still wins
    p.set_defaults(dataset="digits", models=["small_cnn"], optimizers=["sgd"],
                   regimes=["conventional", "lerac"], seeds=2, epochs=1,
                   sweep_k=[1.0], sweep_min_scale=[1e-2], batch_size=64,
                   max_validation_examples=0)
    args = p.parse_args(argv)
  if args.max_runs < 0 or args.seeds < 1:
    p.error(f"--max_runs {args.max_runs} --seeds {args.seeds}: --max_runs "
            "must be >= 0 (0: all runs) and --seeds >= 1")
  return args


def main(argv=None) -> dict[str, Any]:
  args = parse_args(argv)
  prefix = os.path.splitext(args.out)[0]
  data = study_io.load_or_run(args.out, args.report, lambda: run_study(args))
  print(report(data, prefix))
  return data


if __name__ == "__main__":
  main()
