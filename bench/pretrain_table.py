#!/usr/bin/env python3
"""The README's pre-training table: downstream test accuracy with few labels.

For one data folder and its pre-trained encoders (`backprop pretrain --task T
--out DIR/T`), trains `train mnist --labels-per-class K` for K in 10 and 100,
seeds 1-3, from scratch (all layers; and a linear probe of the random encoder)
and from each encoder (a linear probe with --freeze encoder, and full
fine-tuning), and prints mean and standard deviation of the test accuracy.
Each encoder is pre-trained once and reused across the downstream seeds (the
seed changes the labelled subset, the output layer's initialisation and the
batch order).

    python3 bench/pretrain_table.py --data /path/mnist --encoders runs/acc/mnist- \
        --tasks rotation,contrastive,denoise --out runs/acc/mnist-table.jsonl

Recipe (the same for every row; --finetune-flags adds flags to the fine-tuning
rows, scratch's included, e.g. --encoder-lr-scale 0.1): --arch (default lenet5), Adam, cosine decay, batch 32;
10 labels per class: 60 epochs (240 steps); 100 per class: 20 epochs (640 steps);
learning rate 1e-3 for training all layers, 1e-2 for a linear probe
(--freeze encoder: the encoder in evaluation mode, its batch-norm statistics as
pre-trained; --freeze encoder-weights here for the probe of the rows before
2026-12-01, batch norm on batch statistics); no validation split
(--val-fraction 0), test on the t10k files.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

RECIPE = {10: ["--epochs", "60"], 100: ["--epochs", "20"]}


def run(binary, data, arch, k, seed, extra, out):
    args = [binary, "train", "mnist", "--data", data, "--arch", arch, "--labels-per-class", str(k),
            "--val-fraction", "0", "--batch-size", "32", "--seed", str(seed), "--threads", "1", "--json",
            "--out", out] + (RECIPE[k] if "--epochs" not in extra else []) + extra
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {done.stderr}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return 100.0 * summary["test_accuracy"], summary["train_seconds"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="target/release/backprop")
    p.add_argument("--data", required=True)
    p.add_argument("--arch", default="lenet5", help="the network (the encoders' architecture)")
    p.add_argument("--encoders", required=True, help="prefix: the encoder of task T is PREFIX<T>/encoder.safetensors")
    p.add_argument("--tasks", default="rotation,contrastive,denoise")
    p.add_argument("--labels", default="10,100")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--out", required=True, help="JSON lines, one per run (appended)")
    p.add_argument("--no-scratch", action="store_true", help="only the pre-trained rows")
    p.add_argument("--no-probe", action="store_true", help="only the fine-tuning rows")
    p.add_argument("--no-finetune", action="store_true", help="only the probe rows")
    p.add_argument("--freeze", default="encoder", choices=["encoder", "encoder-weights"],
                   help="the probe's --freeze: encoder (evaluation mode) or encoder-weights (batch statistics)")
    p.add_argument("--finetune-flags", default="",
                   help="more train mnist flags for the fine-tuning rows (a recipe), e.g. '--encoder-lr-scale 0.1'")
    a = p.parse_args()
    tune = a.finetune_flags.split()
    probe = ["--freeze", a.freeze, "--lr", "0.01"]
    rows = [("scratch", "fine-tune", tune), ("scratch", "probe", probe)]
    if a.no_scratch:
        rows = []
    for task in a.tasks.split(","):
        if not task:
            continue
        enc = f"{a.encoders}{task}/encoder.safetensors"
        rows.append((task, "probe", ["--init-from", enc] + probe))
        rows.append((task, "fine-tune", ["--init-from", enc] + tune))
    if a.no_probe:
        rows = [r for r in rows if r[1] != "probe"]
    if a.no_finetune:
        rows = [r for r in rows if r[1] != "fine-tune"]
    stem = os.path.splitext(os.path.basename(a.out))[0]
    scratch_dir = os.path.join(os.path.dirname(a.out) or ".", f"{stem}-runs")
    table = []
    for k in [int(x) for x in a.labels.split(",")]:
        for start, mode, extra in rows:
            accs = []
            for seed in [int(s) for s in a.seeds.split(",")]:
                out = os.path.join(scratch_dir, f"{start}-{mode}-{k}-{seed}")
                acc, secs = run(a.binary, a.data, a.arch, k, seed, extra, out)
                accs.append(acc)
                recipe = " ".join(tune) if mode == "fine-tune" else ("" if a.freeze == "encoder" else "--freeze " + a.freeze)
                with open(a.out, "a") as f:
                    f.write(json.dumps({"data": a.data, "start": start, "mode": mode, "labels_per_class": k,
                                        "seed": seed, "test_accuracy": acc, "train_seconds": secs,
                                        "recipe": recipe, "arch": a.arch}) + "\n")
            line = (k, start, mode, statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0)
            table.append(line)
            print("| %d | %s | %s | %.2f ± %.2f |" % line, flush=True)


if __name__ == "__main__":
    main()
