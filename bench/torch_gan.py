#!/usr/bin/env python3
"""PyTorch side of benchmark W6 (CPU only), and the reference GAN of the
acceptance runs: the default MLP GAN of `backprop train gan`, trained the
same way on MNIST.

    python3 bench/torch_gan.py --data DIR [--threads 1] [--epochs 1] [--seed 1]
                               [--batch 64] [--export G.safetensors]

The GAN (crates/backprop/src/gan/config.rs, GanConfig::mlp): generator
z(100) -> 256 -> 512 -> 1024 -> 784 with leaky ReLU (slope 0.2) and a tanh
output; discriminator 784 -> 512 -> 256 -> 1 with leaky ReLU, a logit out;
PyTorch's default initialisation of nn.Linear. Images scaled to [-1, 1].
Per step: the discriminator on a real batch (target 1) and on G(z) of a fresh
noise batch (target 0), summed binary cross-entropies; then the generator's
non-saturating loss, BCE(D(G(z)), 1), on the same noise. Adam 2e-4, betas
(0.5, 0.999) for both networks. Batches in a new random order every epoch.

--export writes the trained generator as a backprop GAN checkpoint
(safetensors, names generator.layers.{0,2,4,6}.{weight,bias}, metadata
backprop.kind = "gan" and backprop.config) so that `backprop gan-score`
scores it exactly as it scores backprop's own.

Output (stdout, JSON lines; progress on stderr), one per epoch and a summary:

  {"framework":"pytorch","workload":"w6-epoch","threads":1,"epoch":1,"seconds":41.2,
   "d_loss":1.1,"g_loss":0.9,"d_x":0.6,"d_g_z":0.4}
  {"framework":"pytorch","workload":"w6","threads":1,"epochs":1,"seconds":41.2,...}

"seconds" is the wall time of the training steps (of the epoch; of all epochs).

Exit status: 0 ok, 3 PyTorch not installed.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np

CONFIG = {
    "arch": "mlp",
    "latent": 100,
    "image": [1, 28, 28],
    "classes": 10,
    "conditional": False,
    "generator_hidden": [256, 512, 1024],
    "discriminator_hidden": [512, 256],
    "negative_slope": 0.2,
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows * cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def find(folder, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit("no %s(.gz) in %s" % (stem, folder))


def mlp(nn, sizes, out):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.LeakyReLU(CONFIG["negative_slope"]))
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


def export(generator, path):
    """Writes the generator's tensors as safetensors (F32, little-endian)."""
    tensors, header, offset = [], {}, 0
    for name, t in generator.state_dict().items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header["generator.layers." + name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        tensors.append(data)
        offset += len(data)
    header["__metadata__"] = {"backprop.kind": "gan", "backprop.config": json.dumps(CONFIG, separators=(",", ":")),
                              "backprop.trained_by": "pytorch (bench/torch_gan.py)"}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for data in tensors:
            f.write(data)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--export", help="write the generator here after every epoch")
    args = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        log("PyTorch is not installed")
        sys.exit(3)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = read_idx(find(args.data, "train-images-idx3-ubyte"))
    x_all = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)
    latent = CONFIG["latent"]
    G = mlp(nn, [latent] + CONFIG["generator_hidden"] + [784], nn.Tanh())
    D = mlp(nn, [784] + CONFIG["discriminator_hidden"] + [1], None)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    n, b = x_all.shape[0], args.batch
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        sums = np.zeros(4)
        steps = 0
        start = time.perf_counter()
        for s in range(0, n - b + 1, b):
            real = x_all[order[s:s + b]]
            z = torch.randn(b, latent)
            fake = G(z)
            opt_d.zero_grad()
            d_real, d_fake = D(real), D(fake.detach())
            d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            d_gen = D(fake)
            g_loss = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            g_loss.backward()
            opt_g.step()
            sums += [d_loss.item(), g_loss.item(), torch.sigmoid(d_real).mean().item(),
                     torch.sigmoid(d_fake).mean().item()]
            steps += 1
        seconds = time.perf_counter() - start
        m = sums / max(steps, 1)
        total += seconds
        rec = {"framework": "pytorch", "workload": "w6-epoch", "threads": args.threads, "epoch": epoch,
               "seconds": round(seconds, 3), "d_loss": m[0], "g_loss": m[1], "d_x": m[2], "d_g_z": m[3],
               "version": torch.__version__}
        print(json.dumps(rec, separators=(",", ":")), flush=True)
        log("epoch %d: %.1f s, D loss %.3f, G loss %.3f, D(x) %.3f, D(G(z)) %.3f" % (epoch, seconds, *m))
        if args.export:
            export(G, args.export)
    rec = {"framework": "pytorch", "workload": "w6", "threads": args.threads, "epochs": args.epochs,
           "seconds": round(total, 3), "d_loss": m[0], "g_loss": m[1], "version": torch.__version__}
    print(json.dumps(rec, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
