#!/usr/bin/env python3
"""Mean, standard deviation and each seed of the JSON lines bench/pretrain_table.py appends."""
import json, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[(r["labels_per_class"], r["start"], r["mode"])].append((r["seed"], r["test_accuracy"]))
ORDER = ["scratch", "rotation", "contrastive", "denoise"]
for key in sorted(rows, key=lambda k: (k[0], ORDER.index(k[1]) if k[1] in ORDER else len(ORDER), k[1], k[2])):
    accs = [a for _, a in sorted(rows[key])]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0
    print(f"| {key[0]} | {key[1]} | {key[2]} | {statistics.mean(accs):.2f} ± {sd:.2f} | {', '.join(f'{a:.2f}' for a in accs)} |")
