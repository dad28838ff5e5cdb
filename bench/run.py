#!/usr/bin/env python3
"""Runs backprop's benchmarks side by side with PyTorch and prints a table.

    python3 bench/run.py [--threads 2] [--data DIR] [--workloads w1,w2,w3] [--epochs N] [--repeat K] [--rl-steps N]

For each workload it runs backprop's side,

    cargo bench --bench workloads -- WORKLOAD --threads T --data DIR --epochs N

and right after it PyTorch's side,

    python3 bench/torch_reference.py WORKLOAD --threads T --data DIR --epochs N

Both print JSON lines on stdout (see bench/torch_reference.py for the format).
The Markdown table goes to stdout and to bench/results/latest.md; the raw JSON
lines to bench/results/latest.jsonl. Progress and cargo's own output go to
stderr. Standard library only. If PyTorch is missing, the backprop side still
runs and the PyTorch columns say so. Note that cargo appends `--bench` to the
harness's arguments.

Timings are only meaningful on an otherwise idle machine: before each workload
the script samples /proc/stat for a second and the table's footer reports how
busy the CPU was; --repeat K runs each pair K times and keeps each side's best.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
TORCH_SCRIPT = os.path.join(BENCH_DIR, "torch_reference.py")
DEFAULT_DATA_DIRS = [
    "/usr/share/datasets/fashion-mnist",
    os.path.join(REPO_ROOT, "..", "shared", "data", "fashion-mnist"),
]
WORKLOADS = {
    "w1": "network.py MLP 784-30-10, sigmoid, quadratic cost, SGD lr 3.0, batch 10",
    "w2": "MLP 784-256-128-10, ReLU, cross-entropy, Adam lr 1e-3, batch 64",
    "w3": "f32 square matmul",
    "w4": "baby GPT: 4 layers, 4 heads, 128 channels, block 64, batch 12, AdamW, tiny Shakespeare",
    "w5": "CNN conv(1->32,5x5,pad 2)-ReLU-maxpool 2-conv(32->64,5x5,pad 2)-ReLU-maxpool 2-linear(3136->128)-ReLU-"
          "linear(128->10), cross-entropy, Adam lr 1e-3, batch 64",
    "w5conv": "conv2d forward + backward (input, weight, bias gradients) alone at three shapes, GFLOP/s",
    "w6": "the default MLP GAN of `train gan` (G 100-256-512-1024-784 tanh, D 784-512-256-1, leaky ReLU 0.2, "
          "Adam 2e-4 betas 0.5/0.999) on full MNIST, batch 64; sample quality by `backprop gan-score` with --classifier",
    "w7": "PPO on CartPole-v1 (8 envs x 32 steps, 20 epochs of one 256 minibatch, 64-64 tanh, Adam 1e-3), "
          "greedy return of 100 episodes; and one forward+backward+Adam step of a 4-64-64-2 MLP at batch 1 and 64",
}
GPT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_gpt.py")
RL_SCRIPT = os.path.join(BENCH_DIR, "torch_rl.py")
GAN_SCRIPT = os.path.join(BENCH_DIR, "torch_gan.py")
MNIST_DIR = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist")
TORCH_MISSING = 3  # exit status of torch_reference.py when `import torch` fails


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description="backprop vs PyTorch benchmarks")
    p.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default 2)")
    p.add_argument("--data", default=None,
                   help="Fashion-MNIST directory (default: first existing of %s)" % ", ".join(DEFAULT_DATA_DIRS))
    p.add_argument("--workloads", default="w1,w2,w3",
                   help="comma-separated subset of w1,w2,w3,w4,w5,w5conv,w6,w7 (w4, w5 and w6 take minutes)")
    p.add_argument("--iters", type=int, default=2000, help="training steps for w4 (default 2000)")
    p.add_argument("--epochs", type=int, default=1, help="training epochs for w1/w2/w5 (default 1)")
    p.add_argument("--rl-steps", type=int, default=100_000, help="environment steps of w7's PPO run (default 100000)")
    p.add_argument("--mnist", default=MNIST_DIR, help="full MNIST directory for w6 (default %(default)s)")
    p.add_argument("--classifier", default=None,
                   help="w6: a backprop MNIST classifier; both GANs are then scored by `backprop gan-score`")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each backprop/PyTorch pair this many times; the table shows each side's best run")
    args = p.parse_args()
    if min(args.threads, args.epochs, args.repeat, args.rl_steps) < 1:
        p.error("--threads, --epochs, --repeat and --rl-steps must be >= 1")
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        p.error("unknown workload(s): %s (choose from %s)" % (", ".join(unknown), ", ".join(WORKLOADS)))
    if args.data is not None:
        args.data = os.path.abspath(args.data)  # the commands run from the repo root
    else:
        args.data = next((os.path.normpath(d) for d in DEFAULT_DATA_DIRS if os.path.isdir(d)), None)
    if args.data is None and any(w in ("w1", "w2", "w5") for w in args.workloads):
        p.error("Fashion-MNIST not found; `apt-get install dataset-fashion-mnist` or pass --data DIR")
    return args


def run_json(cmd, label):
    """Runs cmd from the repo root; returns (exit status, JSON records on its stdout).

    Its stderr passes straight through; non-JSON stdout lines are forwarded to stderr.
    """
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    records = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
                continue
            except ValueError:
                pass
        if line:
            log("[%s] %s" % (label, line))
    if proc.returncode != 0:
        log("[%s] exited with status %d" % (label, proc.returncode))
    return proc.returncode, records


def workload_args(workload, args):
    if workload == "w6":
        return ["w6", "--threads", str(args.threads), "--epochs", str(args.epochs), "--data", os.path.abspath(args.mnist),
                "--out", os.path.join(RESULTS_DIR, "w6_backprop.safetensors")]
    if workload == "w7":
        return ["w7", "--threads", str(args.threads), "--steps", str(args.rl_steps)]
    if workload == "w4":
        return ["w4", "--threads", str(args.threads), "--iters", str(args.iters)]
    if workload == "w5conv":
        return ["w5conv", "--threads", str(args.threads)]
    extra = [workload, "--threads", str(args.threads), "--epochs", str(args.epochs)]
    if args.data:
        extra += ["--data", args.data]
    return extra


# ------------------------------------------------------------------ work

def mlp_flops(sizes, examples):
    """FLOPs of an MLP's products over `examples`: forward, input and weight gradients (3x the
    forward's), 2 per multiply-add. Element-wise work (activations, losses, the optimizer) is left out."""
    return 3 * 2 * examples * sum(a * b for a, b in zip(sizes, sizes[1:]))


def gpt_step_flops(layers=4, channels=128, heads=4, block=64, batch=12, vocab=65):
    """FLOPs of one W4 step's products (3x the forward's): per token and layer the q/k/v, output and
    two MLP projections (12 C^2 multiply-adds), the attention scores and weighted sum over the whole
    block (2 T C), and the output head (C V)."""
    per_token = layers * (12 * channels * channels + 2 * block * channels) + channels * vocab
    return 3 * 2 * batch * block * per_token


FASHION_TRAIN = 60000


def work_flops(workload, args):
    """The products' FLOPs of one timed run (W1/W2: its epochs; W4: one step), or None."""
    if workload == "w1":
        return mlp_flops([784, 30, 10], FASHION_TRAIN * args.epochs)
    if workload == "w2":
        return mlp_flops([784, 256, 128, 10], FASHION_TRAIN * args.epochs)
    if workload == "w4":
        return gpt_step_flops()
    return None


def limit_rows(records, args):
    """W1, W2, W4 as shares of the machine's limit: their products' FLOPs over the time, against the
    best f32 GEMM of the same run (W3, either framework)."""
    peaks = [r["gflops"] for r in records if r.get("workload") == "w3" and "gflops" in r]
    shown = [w for w in args.workloads if work_flops(w, args)]
    if not shown:
        return []
    if not peaks:
        return ["", "Share of the machine's limit: add w3 to the run (its best GFLOP/s is the GEMM peak)."]
    peak = max(peaks)
    rows = ["", "Share of the machine's limit, the GEMM peak of this run (the best W3 figure, either framework): "
            "%.1f GFLOP/s. Work: the products' FLOPs (forward and both gradients, 2 per multiply-add)." % peak, "",
            "| workload | work | backprop | PyTorch |", "|---|---|---|---|"]
    for w in shown:
        flops = work_flops(w, args)
        def share(fw):
            r = find(records, fw, w)
            if not r:
                return "n/a"
            seconds = r["ms_per_iter"] / 1000.0 if w == "w4" else r["seconds"]
            gflops = flops / seconds / 1e9
            return "%.1f GFLOP/s (%.0f%%)" % (gflops, 100.0 * gflops / peak)
        unit = "GFLOP per step" if w == "w4" else "GFLOP"
        rows.append("| %s | %.2f %s | %s | %s |" % (w, flops / 1e9, unit, share("backprop"), share("pytorch")))
    return rows


# ------------------------------------------------------------------ table

def fmt_seconds(rec):
    return "%.2f s" % rec["seconds"] if rec else "n/a"


def fmt_gflops(rec):
    return "%.1f GFLOP/s" % rec["gflops"] if rec else "n/a"


def fmt_acc(rec):
    return "%.2f%%" % (100.0 * rec["test_accuracy"]) if rec and "test_accuracy" in rec else "n/a"


def fmt_ratio(num, den):
    if not num or not den:
        return "n/a"
    return "%.2fx" % (num / den)


def find(records, framework, workload, size=None):
    """The best matching record: most GFLOP/s for w3/w5conv, fewest seconds otherwise (None if none)."""
    matches = [r for r in records
               if r.get("framework") == framework and r.get("workload") == workload and r.get("size") == size]
    if not matches:
        return None
    if size is not None:
        return max(matches, key=lambda r: r["gflops"])
    return min(matches, key=lambda r: r["seconds"])


def make_table(records, args, torch_note, busy):
    rows = [
        "| workload | backprop | PyTorch | speed-up (backprop vs PyTorch) | test accuracy (backprop / PyTorch) |",
        "|---|---|---|---|---|",
    ]
    for w in args.workloads:
        if w == "w3":
            sizes = sorted({r["size"] for r in records if r.get("workload") == "w3" and "size" in r})
            for n in sizes:
                b, t = find(records, "backprop", w, n), find(records, "pytorch", w, n)
                ratio = fmt_ratio(b and b["gflops"], t and t["gflops"])
                rows.append("| w3 matmul %dx%d | %s | %s | %s | - |" % (n, n, fmt_gflops(b), fmt_gflops(t), ratio))
            if not sizes:
                rows.append("| w3 matmul | n/a | n/a | n/a | - |")
        elif w == "w5conv":
            names = sorted({r["size"] for r in records if r.get("workload") == "w5conv" and "size" in r})
            for n in names:
                b, t = find(records, "backprop", w, n), find(records, "pytorch", w, n)
                ratio = fmt_ratio(b and b["gflops"], t and t["gflops"])
                rows.append("| w5conv conv2d %s fwd+bwd | %s | %s | %s | - |" % (n, fmt_gflops(b), fmt_gflops(t), ratio))
            if not names:
                rows.append("| w5conv conv2d | n/a | n/a | n/a | - |")
        elif w == "w4":
            b, t = find(records, "backprop", w), find(records, "pytorch", w)
            ms = lambda r: "%.1f ms/step" % r["ms_per_iter"] if r else "n/a"  # noqa: E731
            val = lambda r: "val loss %.4f" % r["val_loss"] if r else "n/a"  # noqa: E731
            ratio = fmt_ratio(t and t["seconds"], b and b["seconds"])
            rows.append("| w4 baby GPT (%d steps) | %s | %s | %s | %s / %s |" % (args.iters, ms(b), ms(t), ratio, val(b), val(t)))
        elif w == "w7":
            rows += w7_rows(records, args)
        elif w == "w6":
            b, t = find(records, "backprop", w), find(records, "pytorch", w)
            fd = lambda fw: next(("FD %.2f, min class %.1f%%" % (r["frechet_distance"], 100 * r["min_class_share"])  # noqa: E731
                                  for r in records if r.get("workload") == "w6-score" and r.get("framework") == fw), "n/a")
            rows.append("| w6 MLP GAN (%d epoch%s) | %s | %s | %s | %s / %s |"
                        % (args.epochs, "" if args.epochs == 1 else "s", fmt_seconds(b), fmt_seconds(t),
                           fmt_ratio(t and t["seconds"], b and b["seconds"]), fd("backprop"), fd("pytorch")))
        else:
            b, t = find(records, "backprop", w), find(records, "pytorch", w)
            ratio = fmt_ratio(t and t["seconds"], b and b["seconds"])
            name = "%s (%d epoch%s)" % (w, args.epochs, "" if args.epochs == 1 else "s")
            rows.append("| %s | %s | %s | %s | %s / %s |"
                        % (name, fmt_seconds(b), fmt_seconds(t), ratio, fmt_acc(b), fmt_acc(t)))

    torch_version = next((r.get("version") for r in records if r.get("framework") == "pytorch"), None)
    header = [
        "# backprop vs PyTorch",
        "",
        "%s, backprop %s, %s threads, %s (%s), Python %s, PyTorch %s"
        % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), git_commit(), args.threads, cpu_model(),
           platform.machine(), platform.python_version(), torch_version or "not available"),
        "",
    ]
    footer = [
        "",
        "Speed-up: PyTorch seconds / backprop seconds for w1, w2, w5 and w6 (training time only, "
        "evaluation excluded); backprop GFLOP/s / PyTorch GFLOP/s for w3 and w5conv. Above 1x means backprop is faster.",
    ]
    footer += limit_rows(records, args)
    if "w7" in args.workloads:
        footer += ["W7: PyTorch / backprop for the seconds of PPO training (its final greedy evaluation excluded; "
                   "the PyTorch side steps gymnasium's CartPole-v1) and for the microseconds per MLP step."]
    if args.repeat > 1:
        footer += ["Each side's best of %d alternating runs; all runs are in latest.jsonl." % args.repeat]
    footer += ["- %s: %s" % (w, WORKLOADS[w]) for w in args.workloads]
    if busy is not None:
        footer += ["", "Other load: up to %.0f%% of the %d logical cores were busy just before a workload%s."
                   % (100 * busy, os.cpu_count() or 1,
                      "; timings on a busy machine are unreliable, rerun on an idle one" if busy > 0.25 else "")]
    if torch_note:
        footer += ["", torch_note]
    return "\n".join(header + rows + footer) + "\n"


def w6_scores(args):
    """Both W6 generators scored by the same `backprop gan-score` (records with workload "w6-score")."""
    records = []
    binary = os.path.join(REPO_ROOT, "target", "release", "backprop")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release"], cwd=REPO_ROOT, stdout=sys.stderr)
    for fw in ("backprop", "pytorch"):
        model = os.path.join(RESULTS_DIR, "w6_%s.safetensors" % fw)
        if not os.path.exists(model):
            continue
        _, recs = run_json([binary, "gan-score", "--model", model, "--classifier", os.path.abspath(args.classifier),
                            "--data", os.path.abspath(args.mnist), "--threads", str(args.threads), "--json"], fw)
        for r in recs:
            r.update({"framework": fw, "workload": "w6-score"})
        records += recs
    return records


def w7_rows(records, args):
    """W7's table rows: the PPO run (time, greedy return) and the MLP step at batch 1 and 64 (microseconds)."""
    b, t = find(records, "backprop", "w7"), find(records, "pytorch", "w7")
    ret = lambda r: "greedy return %.1f" % r["final_return"] if r else "n/a"  # noqa: E731
    rows = ["| w7 PPO CartPole (%d steps) | %s | %s | %s | %s / %s |"
            % (args.rl_steps, fmt_seconds(b), fmt_seconds(t), fmt_ratio(t and t["seconds"], b and b["seconds"]),
               ret(b), ret(t))]
    for batch in (1, 64):
        steps = [r for r in records if r.get("workload") == "w7-step" and r.get("batch") == batch]
        best = lambda fw: min((r for r in steps if r["framework"] == fw), key=lambda r: r["us_per_step"], default=None)  # noqa: E731
        bb, tt = best("backprop"), best("pytorch")
        us = lambda r: "%.1f us/step" % r["us_per_step"] if r else "n/a"  # noqa: E731
        rows.append("| w7 MLP 4-64-64-2 step, batch %d | %s | %s | %s | - |"
                    % (batch, us(bb), us(tt), fmt_ratio(tt and tt["us_per_step"], bb and bb["us_per_step"])))
    return rows


def busy_fraction(seconds=1.0):
    """Fraction of all CPU time spent busy over `seconds` (while this script idles), or None."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return (total - (idle1 - idle0)) / total if total > 0 else None


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return out.stdout.strip() or "unknown commit"
    except OSError:
        return "unknown commit"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ------------------------------------------------------------------- main

def main():
    args = parse_args()

    log("building backprop's benchmarks (cargo build --release --benches)")
    build = subprocess.run(["cargo", "build", "--release", "--benches"], cwd=REPO_ROOT, stdout=sys.stderr)
    backprop_ok = build.returncode == 0
    if not backprop_ok:
        log("cargo build failed (status %d); running the PyTorch side only" % build.returncode)

    os.makedirs(RESULTS_DIR, exist_ok=True)
    records = []
    torch_ok, torch_note = True, None
    busy = None
    for w in [w for w in args.workloads for _ in range(args.repeat)]:
        now = busy_fraction()
        if now is not None:
            busy = max(busy or 0.0, now)
            if now > 0.25:
                log("warning: %.0f%% of the CPU is busy with other work; timings will be distorted" % (100 * now))
        if backprop_ok:
            # cargo's own messages go to stderr; the harness's JSON to stdout.
            _, recs = run_json(["cargo", "bench", "--bench", "workloads", "--"] + workload_args(w, args), "backprop")
            records += recs
        if torch_ok:
            script = {"w4": GPT_SCRIPT, "w6": GAN_SCRIPT, "w7": RL_SCRIPT}.get(w, TORCH_SCRIPT)
            argv = workload_args(w, args)[1:] if w in ("w4", "w7") else workload_args(w, args)
            if w == "w6":
                argv = ["--data", os.path.abspath(args.mnist), "--threads", str(args.threads), "--epochs",
                        str(args.epochs), "--export", os.path.join(RESULTS_DIR, "w6_pytorch.safetensors")]
            status, recs = run_json([sys.executable, script] + argv, "pytorch")
            records += recs
            if status == TORCH_MISSING:
                torch_ok = False
                torch_note = ("PyTorch is not installed, so its columns are empty: `pip install torch` "
                              "(or the CPU wheel: `pip install torch --index-url https://download.pytorch.org/whl/cpu`).")
                log(torch_note)

    if "w6" in args.workloads and args.classifier:
        records += w6_scores(args)
    table = make_table(records, args, torch_note, busy)
    print(table, end="")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "latest.md"), "w") as f:
        f.write(table)
    with open(os.path.join(RESULTS_DIR, "latest.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    log("wrote %s and %s" % (os.path.join("bench", "results", "latest.md"),
                             os.path.join("bench", "results", "latest.jsonl")))
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
