#!/usr/bin/env python3
"""Mean, standard deviation and each seed of the JSON lines bench/pretrain_table.py appends.

    python3 bench/pretrain_summary.py runs/acc/mnist-table.jsonl

One row per (labels per class, encoder, training, recipe, network); the recipe
(more fine-tuning flags, bench/pretrain_table.py --finetune-flags) and a
network other than lenet5 (--arch) are shown when set.
"""
import json, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    arch = r.get("arch", "lenet5")
    recipe = " ".join(x for x in [r.get("recipe", ""), "" if arch == "lenet5" else f"--arch {arch}"] if x)
    key = (r["labels_per_class"], r["start"], r["mode"], recipe)
    rows[key].append((r["seed"], r["test_accuracy"]))
ORDER = ["scratch", "rotation", "contrastive", "denoise"]
for key in sorted(rows, key=lambda k: (k[0], ORDER.index(k[1]) if k[1] in ORDER else len(ORDER), k[1], k[2], k[3])):
    accs = [a for _, a in sorted(rows[key])]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0
    recipe = f" ({key[3]})" if key[3] else ""
    print(f"| {key[0]} | {key[1]} | {key[2]}{recipe} | {statistics.mean(accs):.2f} ± {sd:.2f} | {', '.join(f'{a:.2f}' for a in accs)} |")
