#!/usr/bin/env python3
"""W4 "baby GPT" in PyTorch on CPU: the reference for backprop's `cargo bench --bench workloads -- w4`.

4 layers, 4 heads, embedding 128, block 64, batch 12, no dropout, no biases, tied
embeddings, GPT-2 init, AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices),
warmup 100 then cosine to 1e-4, gradient clipping 1.0, on tiny Shakespeare (90/10 split).
Same model as backprop's (GELU with the tanh approximation), attention through
F.scaled_dot_product_attention (PyTorch's fastest CPU path).

Prints one JSON line: {"framework":"pytorch","workload":"w4","threads":2,"iters":2000,
"seconds":...,"ms_per_iter":...,"val_loss":...}. "seconds" times the training steps only.
"""

import argparse
import json
import math
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--text", default=os.path.join(REPO_ROOT, "data", "tinyshakespeare", "input.txt"))
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        print("PyTorch is not installed: run `pip install torch` (import failed: %s)" % e, file=sys.stderr)
        return 3
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    text = open(args.text, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(round(0.9 * len(data)))
    train, val = data[:n], data[n:]
    V, T, B, C, H, L = len(chars), 64, 12, 128, 4, 4

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(C, bias=False)
            self.c_attn = nn.Linear(C, 3 * C, bias=False)
            self.attn_proj = nn.Linear(C, C, bias=False)
            self.ln_2 = nn.LayerNorm(C, bias=False)
            self.c_fc = nn.Linear(C, 4 * C, bias=False)
            self.mlp_proj = nn.Linear(4 * C, C, bias=False)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(T, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C, bias=False)
            for name, prm in self.named_parameters():
                if prm.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                    nn.init.normal_(prm, 0.0, std)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    model = GPT()
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)

    def batch(src):
        ix = torch.randint(len(src) - T, (B,), generator=gen)
        return torch.stack([src[i:i + T] for i in ix]), torch.stack([src[i + 1:i + 1 + T] for i in ix])

    def lr_at(it, warmup=100, total=args.iters, lr=1e-3, min_lr=1e-4):
        if it < warmup:
            return lr * (it + 1) / warmup
        if it >= total:
            return min_lr
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * (it - warmup) / max(1, total - warmup)))

    t0 = time.perf_counter()
    for it in range(args.iters):
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        x, y = batch(train)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (it + 1) % 250 == 0:
            print("w4 step %d: loss %.4f, %.1f ms/step" % (it + 1, loss.item(), 1000 * (time.perf_counter() - t0) / (it + 1)),
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        val_loss = sum(model(*batch(val)).item() for _ in range(20)) / 20
    print("w4: %.1f ms/step, validation loss %.4f" % (1000 * seconds / args.iters, val_loss), file=sys.stderr)
    print(json.dumps({"framework": "pytorch", "workload": "w4", "threads": args.threads, "iters": args.iters,
                      "seconds": round(seconds, 4), "ms_per_iter": round(1000 * seconds / args.iters, 3),
                      "val_loss": round(val_loss, 4), "version": torch.__version__}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
