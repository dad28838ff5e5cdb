#!/usr/bin/env python3
"""PyTorch reference side of the backprop benchmarks (CPU only).

    python3 bench/torch_reference.py w1 [--threads 2] [--data DIR] [--seed 0] [--epochs 1]
    python3 bench/torch_reference.py w2 --epochs 5
    python3 bench/torch_reference.py w3 [--sizes 128,256,512,1024] [--min-seconds 0.5]
    python3 bench/torch_reference.py w5 [--threads 2] [--data DIR] [--epochs 1]
    python3 bench/torch_reference.py w5conv [--min-seconds 0.5]

Workloads:
  w1  Nielsen's network.py: 784-30-10, sigmoid on both layers, quadratic cost
      0.5*||a - y||^2 (summed over outputs, averaged over the batch), plain SGD
      lr 3.0, batch 10.
  w2  Modern MLP: 784-256-128-10 ReLU, softmax cross-entropy, Adam lr 1e-3,
      batch 64.
  w3  f32 square matmul, torch.mm(a, b, out=c), GFLOP/s per size.
  w5  CNN: conv(1->32, 5x5, pad 2)-ReLU-maxpool 2-conv(32->64, 5x5, pad 2)-ReLU-
      maxpool 2-linear(3136->128)-ReLU-linear(128->10), cross-entropy, Adam lr
      1e-3, batch 64 (images [N, 1, 28, 28]).
  w5conv  one conv2d forward and backward (input, weight and bias gradients)
      alone at three shapes, GFLOP/s (3 x 2 N OC OH OW IC KH KW per call).

Output: progress goes to stderr; stdout gets only JSON lines, one per run
(one per size for w3), in the format shared with the Rust harness
(bench/workloads.rs):

  {"framework":"pytorch","workload":"w1","threads":2,"epochs":1,"seconds":4.1,
   "test_accuracy":0.81,"final_loss":0.05,...}
  {"framework":"pytorch","workload":"w3","threads":2,"size":512,"reps":300,
   "seconds":0.5,"gflops":80.5,...}

"seconds" is the wall time of the training epochs only (data loading, model
construction and test evaluation are outside it). "final_loss" is the mean
training loss over the samples of the last epoch (each mini-batch's loss
weighted by its size). "test_accuracy" is a fraction in [0, 1].

Exit status: 0 ok, 2 bad arguments or data not found, 3 PyTorch not installed.
"""

import argparse
import gzip
import json
import os
import platform
import struct
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIRS = [
    "/usr/share/datasets/fashion-mnist",
    os.path.join(REPO_ROOT, "..", "shared", "data", "fashion-mnist"),
]
INSTALL_HINT = (
    "PyTorch is not installed: run `pip install torch` (or the smaller CPU-only "
    "wheel: `pip install torch --index-url https://download.pytorch.org/whl/cpu`)"
)
WORKLOADS = ("w1", "w2", "w3", "w5", "w5conv")


def default_data_dir():
    """First existing default location of the Fashion-MNIST IDX files, or None."""
    for d in DEFAULT_DATA_DIRS:
        if os.path.isdir(d):
            return os.path.normpath(d)
    return None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="PyTorch reference workloads for backprop's benchmarks")
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    p.add_argument("--data", default=None,
                   help="directory with the Fashion-MNIST *-ubyte.gz files "
                        "(default: first existing of %s)" % ", ".join(DEFAULT_DATA_DIRS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1, help="training epochs for w1/w2 (default 1)")
    p.add_argument("--sizes", default="128,256,512,1024", help="w3 matrix sizes")
    p.add_argument("--min-seconds", type=float, default=0.5, help="w3 timed seconds per size")
    args = p.parse_args(argv)
    if args.threads < 1 or args.epochs < 1:
        p.error("--threads and --epochs must be >= 1")
    return args


# ---------------------------------------------------------------- data (stdlib)

def read_idx(path):
    """Reads a gzip'd IDX file; returns (dims, raw uint8 bytes)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        raise ValueError("%s: expected %d bytes of data, found %d" % (path, count, len(body)))
    return dims, body


def load_split(torch, data_dir, prefix):
    """(images float32 [N, 784] in [0, 1], labels int64 [N])."""
    img_dims, img = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"))
    lab_dims, lab = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"))
    n = img_dims[0]
    if lab_dims[0] != n:
        raise ValueError("%s: %d images but %d labels" % (prefix, n, lab_dims[0]))
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).reshape(n, -1).to(torch.float32).div_(255.0)
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).to(torch.int64)
    return x.contiguous(), y


def load_fashion_mnist(torch, data_dir):
    xtr, ytr = load_split(torch, data_dir, "train")
    xte, yte = load_split(torch, data_dir, "t10k")
    return xtr, ytr, xte, yte


# ------------------------------------------------------------- training loop

def train_and_eval(torch, model, optimizer, loss_fn, batch, epochs, xtr, ttr, xte, yte):
    """Trains for `epochs` epochs (timed), then measures test accuracy (untimed).

    Per epoch: one torch.randperm, one gather of the whole training set into
    shuffled order, then contiguous slices as mini-batches (the last,
    possibly smaller, batch is kept). Returns (seconds, final_loss, accuracy).
    """
    n = xtr.shape[0]
    seconds = 0.0
    final_loss = float("nan")
    model.train()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        xs, ts = xtr[perm], ttr[perm]
        loss_sum = 0.0
        for i in range(0, n, batch):
            xb, tb = xs[i:i + batch], ts[i:i + batch]
            loss = loss_fn(model(xb), tb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * xb.shape[0]
        seconds += time.perf_counter() - t0
        final_loss = loss_sum / n
    model.eval()
    with torch.no_grad():
        pred = model(xte).argmax(dim=1)
        accuracy = (pred == yte).float().mean().item()
    return seconds, final_loss, accuracy


def run_w1(torch, args, data):
    import torch.nn as nn

    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    optimizer = torch.optim.SGD(model.parameters(), lr=3.0)
    onehot = torch.nn.functional.one_hot(ytr, 10).to(torch.float32)

    def quadratic_cost(a, y):
        return 0.5 * (a - y).pow(2).sum(dim=1).mean()

    return train_and_eval(torch, model, optimizer, quadratic_cost, 10, args.epochs,
                          xtr, onehot, xte, yte), 10


def run_w2(torch, args, data):
    import torch.nn as nn
    import torch.nn.functional as F

    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return train_and_eval(torch, model, optimizer, F.cross_entropy, 64, args.epochs,
                          xtr, ytr, xte, yte), 64


def run_w5(torch, args, data):
    import torch.nn as nn
    import torch.nn.functional as F

    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = lambda x: x.reshape(-1, 1, 28, 28)  # noqa: E731
    return train_and_eval(torch, model, optimizer, F.cross_entropy, 64, args.epochs,
                          images(xtr), ytr, images(xte), yte), 64


# The conv2d shapes of w5conv: (name, batch, in channels, side, out channels, kernel, padding).
CONV_SHAPES = [
    ("64x1x28x28 k5 -> 32", 64, 1, 28, 32, 5, 2),
    ("64x32x14x14 k5 -> 64", 64, 32, 14, 64, 5, 2),
    ("32x64x16x16 k3 -> 128", 32, 64, 16, 128, 3, 1),
]


def run_w5conv(torch, args, common):
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    for name, n, c, side, oc, k, p in CONV_SHAPES:
        x = torch.randn(n, c, side, side, requires_grad=True)
        w = (0.1 * torch.randn(oc, c, k, k)).requires_grad_()
        b = (0.1 * torch.randn(oc)).requires_grad_()
        flops = 3.0 * 2.0 * n * oc * side * side * c * k * k

        def run():
            x.grad = w.grad = b.grad = None
            y = F.conv2d(x, w, b, padding=p)
            y.backward(y.detach())

        calls, t0 = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - t0 < 0.2:
            run()
            calls += 1
        reps, t0 = 0, time.perf_counter()
        while True:
            run()
            reps += 1
            seconds = time.perf_counter() - t0
            if seconds >= max(args.min_seconds, 0.5) and reps >= 3:
                break
        gflops = flops * reps / seconds / 1e9
        log("w5conv %s: %d reps in %.3f s = %.1f GFLOP/s" % (name, reps, seconds, gflops))
        emit(dict(common, size=name, reps=reps, seconds=round(seconds, 6), gflops=round(gflops, 3)))


def run_w3(torch, args, common):
    torch.manual_seed(args.seed)
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        a = torch.randn(n, n)
        b = torch.randn(n, n)
        c = torch.empty(n, n)
        # Warm up: at least 3 calls and 0.1 s.
        calls, t0 = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - t0 < 0.1:
            torch.mm(a, b, out=c)
            calls += 1
        # Timed: repeat until --min-seconds have passed (the clock read costs
        # well under 1 us, against >= 10 us for the smallest product).
        reps, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=c)
            reps += 1
            seconds = time.perf_counter() - t0
            if seconds >= args.min_seconds:
                break
        gflops = 2.0 * n ** 3 * reps / seconds / 1e9
        log("w3 n=%d: %d reps in %.3f s = %.1f GFLOP/s" % (n, reps, seconds, gflops))
        emit(dict(common, size=n, reps=reps, seconds=round(seconds, 6), gflops=round(gflops, 3)))


def emit(record):
    print(json.dumps(record, separators=(",", ":")), flush=True)


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install (missing shared libraries)
        detail = (str(e).splitlines() or [""])[0]
        log("%s (import torch failed: %s: %s)" % (INSTALL_HINT, type(e).__name__, detail))
        return 3

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # only settable once, before any inter-op work

    common = {
        "framework": "pytorch",
        "workload": args.workload,
        "threads": args.threads,
        "version": torch.__version__,
        "machine": platform.machine(),
    }

    if args.workload in ("w3", "w5conv"):
        (run_w3 if args.workload == "w3" else run_w5conv)(torch, args, common)
        return 0

    data_dir = args.data or default_data_dir()
    if data_dir is None or not os.path.isfile(os.path.join(data_dir, "train-images-idx3-ubyte.gz")):
        log("Fashion-MNIST not found%s; install it with `apt-get install dataset-fashion-mnist` "
            "(files in /usr/share/datasets/fashion-mnist) or pass --data DIR"
            % (" in " + data_dir if data_dir else ""))
        return 2
    data = load_fashion_mnist(torch, data_dir)
    log("%s: loaded %d train / %d test images from %s; training %d epoch(s) on %d thread(s)"
        % (args.workload, data[0].shape[0], data[2].shape[0], data_dir, args.epochs, args.threads))

    run = {"w1": run_w1, "w2": run_w2, "w5": run_w5}[args.workload]
    (seconds, final_loss, accuracy), batch = run(torch, args, data)
    log("%s: %.3f s, final loss %.5f, test accuracy %.4f" % (args.workload, seconds, final_loss, accuracy))
    emit(dict(common, epochs=args.epochs, batch_size=batch, seconds=round(seconds, 6),
              test_accuracy=round(accuracy, 6), final_loss=round(final_loss, 6)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
