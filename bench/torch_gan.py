#!/usr/bin/env python3
"""PyTorch side of benchmark W6 (CPU only), and the reference GANs of the
acceptance runs: the MLP GAN and the DCGAN of `backprop train gan`
(optionally conditional), trained the same way on MNIST.

    python3 bench/torch_gan.py --data DIR [--threads 1] [--epochs 1] [--seed 1]
                               [--batch 64] [--arch mlp|dcgan] [--conditional]
                               [--label-smoothing 0] [--export G.safetensors]

The GAN (crates/backprop/src/gan/config.rs, GanConfig::mlp): generator
z(100) -> 256 -> 512 -> 1024 -> 784 with leaky ReLU (slope 0.2) and a tanh
output; discriminator 784 -> 512 -> 256 -> 1 with leaky ReLU, a logit out;
PyTorch's default initialisation of nn.Linear.

The DCGAN (GanArch::Dcgan, crates/backprop/src/gan/model.rs): generator
Linear(z, 128*7*7, no bias), BatchNorm1d, ReLU, Unflatten to 128x7x7,
ConvTranspose2d(128, 64, 4, stride 2, padding 1, no bias), BatchNorm2d, ReLU,
ConvTranspose2d(64, 1, 4, 2, 1), tanh, Flatten; discriminator Unflatten to
Cx28x28, Conv2d(C, 64, 4, 2, 1), leaky ReLU 0.2, Conv2d(64, 128, 4, 2, 1, no
bias), BatchNorm2d, leaky ReLU 0.2, Flatten, Linear(128*7*7, 1). PyTorch's
default initialisation and batch norm settings (eps 1e-5, momentum 0.1).

--conditional (Mirza & Osindero 2014): the generator reads [z, one_hot(y)];
the MLP discriminator [image, one_hot(y)], the DCGAN's the image's plane
followed by one constant plane per class (C = 1 + 10). Generated images get
uniformly drawn classes, real ones their own.

Images scaled to [-1, 1].
Per step: the discriminator on a real batch (target 1, or 1 - smoothing with
--label-smoothing) and on G(z) of a fresh
noise batch (target 0), summed binary cross-entropies; then the generator's
non-saturating loss, BCE(D(G(z)), 1), on the same noise. Adam 2e-4, betas
(0.5, 0.999) for both networks. Batches in a new random order every epoch.

--export writes the trained generator as a backprop GAN checkpoint
(safetensors, names generator.layers.{i}.{weight,bias,running_mean,...}, metadata
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


def config(arch, conditional):
    return dict(CONFIG, arch=arch, conditional=conditional)


def networks(nn, cfg):
    """The generator and the discriminator of `cfg` (as backprop's GanConfig)."""
    classes = cfg["classes"] if cfg["conditional"] else 0
    latent = cfg["latent"]
    if cfg["arch"] == "mlp":
        G = mlp(nn, [latent + classes] + cfg["generator_hidden"] + [784], nn.Tanh())
        D = mlp(nn, [784 + classes] + cfg["discriminator_hidden"] + [1], None)
        return G, D
    slope = cfg["negative_slope"]
    G = nn.Sequential(
        nn.Linear(latent + classes, 128 * 7 * 7, bias=False), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Tanh(), nn.Flatten())
    D = nn.Sequential(
        nn.Unflatten(1, (1 + classes, 28, 28)),
        nn.Conv2d(1 + classes, 64, 4, stride=2, padding=1), nn.LeakyReLU(slope),
        nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(slope),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    return G, D


def with_labels(torch, x, labels, cfg, planes):
    """x with the one-hot classes appended, as backprop's Gan::with_labels."""
    if labels is None:
        return x
    hot = torch.nn.functional.one_hot(labels, cfg["classes"]).float()
    if planes and cfg["arch"] == "dcgan":
        hot = hot[:, :, None].expand(-1, -1, 784).reshape(x.shape[0], -1)
    return torch.cat([x, hot], 1)


def mlp(nn, sizes, out):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.LeakyReLU(CONFIG["negative_slope"]))
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


def export(generator, cfg, path):
    """Writes the generator's tensors (and batch norm's buffers) as safetensors (F32, little-endian)."""
    tensors, header, offset = [], {}, 0
    for name, t in generator.state_dict().items():
        data = t.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header["generator.layers." + name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        tensors.append(data)
        offset += len(data)
    header["__metadata__"] = {"backprop.kind": "gan", "backprop.config": json.dumps(cfg, separators=(",", ":")),
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
    p.add_argument("--arch", choices=["mlp", "dcgan"], default="mlp")
    p.add_argument("--conditional", action="store_true")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--export", help="write the generator here after every epoch ({epoch} in the name: the epoch)")
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
    y_all = torch.from_numpy(read_idx(find(args.data, "train-labels-idx1-ubyte")).astype(np.int64))
    cfg = config(args.arch, args.conditional)
    latent, classes = cfg["latent"], cfg["classes"]
    G, D = networks(nn, cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    n, b = x_all.shape[0], args.batch
    real_target = 1.0 - args.label_smoothing
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        sums = np.zeros(4)
        steps = 0
        start = time.perf_counter()
        for s in range(0, n - b + 1, b):
            ids = order[s:s + b]
            real = x_all[ids]
            z = torch.randn(b, latent)
            real_y = y_all[ids] if args.conditional else None
            fake_y = torch.randint(0, classes, (b,)) if args.conditional else None
            fake = G(with_labels(torch, z, fake_y, cfg, False))
            opt_d.zero_grad()
            d_real = D(with_labels(torch, real, real_y, cfg, True))
            d_fake = D(with_labels(torch, fake.detach(), fake_y, cfg, True))
            d_loss = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_target)) + \
                F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            d_gen = D(with_labels(torch, fake, fake_y, cfg, True))
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
               "arch": args.arch, "conditional": args.conditional, "version": torch.__version__}
        print(json.dumps(rec, separators=(",", ":")), flush=True)
        log("epoch %d: %.1f s, D loss %.3f, G loss %.3f, D(x) %.3f, D(G(z)) %.3f" % (epoch, seconds, *m))
        if args.export:
            export(G, cfg, args.export.replace("{epoch}", str(epoch)))
    rec = {"framework": "pytorch", "workload": "w6", "threads": args.threads, "epochs": args.epochs,
           "seconds": round(total, 3), "d_loss": m[0], "g_loss": m[1], "arch": args.arch,
           "conditional": args.conditional, "version": torch.__version__}
    print(json.dumps(rec, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
