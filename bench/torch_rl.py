#!/usr/bin/env python3
"""PyTorch side of benchmark W7 (CPU only): PPO on CartPole-v1, and one
training step of a small MLP at batch 1 and 64.

    python3 bench/torch_rl.py [--threads 2] [--steps 100000] [--seed 1] [--iters 2000]

PPO with backprop's defaults for CartPole (crates/backprop/src/rl/train.rs,
RlConfig::new): 8 copies of gymnasium's CartPole-v1 stepped in turn with
same-step autoreset (a truncated episode's last reward gets gamma * V(final
observation)), 32 steps per copy per rollout, GAE (gamma 0.98, lambda 0.8),
20 epochs of one 256-transition minibatch (advantages normalised per
minibatch), clipped objective (0.2), value loss weight 0.5, no entropy
bonus, Adam 1e-3 over both networks, gradient norm clipped to 0.5; policy
and value networks 4-64-64-{2,1} tanh (Xavier-uniform weights, zero biases,
the policy head scaled by 0.01).

Output (stdout, JSON lines; progress on stderr):

  {"framework":"pytorch","workload":"w7","threads":2,"env_steps":100352,"seconds":31.2,
   "final_return":500.0,"final_std":0.0,"train_return":187.3,...}
  {"framework":"pytorch","workload":"w7-step","threads":2,"batch":1,"us_per_step":310.5,...}

"seconds" is the wall time of training (the final evaluation excluded);
"final_return" the mean return of 100 greedy episodes (seeds 1000000..1000099),
"train_return" the mean return of the last 100 training episodes.
"us_per_step": one forward, cross-entropy, backward and Adam step of a
4-64-64-2 tanh MLP, averaged over --iters steps after 200 warm-up steps.

Exit status: 0 ok, 3 PyTorch not installed, 4 gymnasium or NumPy not installed.
"""

import argparse
import json
import platform
import sys
import time

N_ENVS, N_STEPS, EPOCHS, MINIBATCH = 8, 32, 20, 256
GAMMA, LAMBDA, CLIP, VF_COEF, ENT_COEF, LR, MAX_GRAD_NORM = 0.98, 0.8, 0.2, 0.5, 0.0, 1e-3, 0.5
EVAL_EPISODES, EVAL_SEED = 100, 1_000_000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def emit(record):
    print(json.dumps(record, separators=(",", ":")), flush=True)


def mlp(torch, outputs, head_scale):
    nn = torch.nn
    net = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, outputs))
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    with torch.no_grad():
        net[4].weight.mul_(head_scale)
    return net


def ppo(torch, gym, np, args):
    torch.manual_seed(args.seed)
    policy, value = mlp(torch, 2, 0.01), mlp(torch, 1, 1.0)
    params = list(policy.parameters()) + list(value.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    envs = [gym.make("CartPole-v1") for _ in range(N_ENVS)]
    obs = [e.reset(seed=args.seed + i)[0] for i, e in enumerate(envs)]
    episode_return, returns = [0.0] * N_ENVS, []
    steps = 0
    t0 = time.perf_counter()
    while steps < args.steps:
        buf_obs, buf_act, buf_logp, buf_val, buf_rew, buf_done = [], [], [], [], [], []
        for _ in range(N_STEPS):
            x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
            with torch.no_grad():
                logp_all = torch.log_softmax(policy(x), dim=1)
                v = value(x).squeeze(1)
                actions = torch.multinomial(logp_all.exp(), 1).squeeze(1)
            logp = logp_all.gather(1, actions.unsqueeze(1)).squeeze(1)
            rewards, dones, new_obs = [], [], []
            for i, env in enumerate(envs):
                o, r, term, trunc, _ = env.step(int(actions[i]))
                episode_return[i] += r
                if term or trunc:
                    returns.append(episode_return[i])
                    episode_return[i] = 0.0
                    if trunc and not term:
                        with torch.no_grad():
                            r += GAMMA * float(value(torch.as_tensor(o, dtype=torch.float32).unsqueeze(0)))
                    o, _ = env.reset()
                rewards.append(r)
                dones.append(term or trunc)
                new_obs.append(o)
            buf_obs.append(x)
            buf_act.append(actions)
            buf_logp.append(logp)
            buf_val.append(v)
            buf_rew.append(torch.tensor(rewards, dtype=torch.float32))
            buf_done.append(torch.tensor(dones, dtype=torch.float32))
            obs = new_obs
            steps += N_ENVS
        with torch.no_grad():
            last_v = value(torch.as_tensor(np.asarray(obs, dtype=np.float32))).squeeze(1)
        adv = torch.zeros(N_STEPS, N_ENVS)
        running = torch.zeros(N_ENVS)
        for t in reversed(range(N_STEPS)):
            next_v = last_v if t == N_STEPS - 1 else buf_val[t + 1]
            not_done = 1.0 - buf_done[t]
            delta = buf_rew[t] + GAMMA * next_v * not_done - buf_val[t]
            running = delta + GAMMA * LAMBDA * not_done * running
            adv[t] = running
        ret = adv + torch.stack(buf_val)
        b_obs, b_act = torch.cat(buf_obs), torch.cat(buf_act)
        b_logp, b_adv, b_ret = torch.cat(buf_logp), adv.reshape(-1), ret.reshape(-1)
        size = b_act.shape[0]
        for _ in range(EPOCHS):
            perm = torch.randperm(size)
            for start in range(0, size, MINIBATCH):
                ids = perm[start:start + MINIBATCH]
                a = b_adv[ids]
                a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
                logp_all = torch.log_softmax(policy(b_obs[ids]), dim=1)
                logp = logp_all.gather(1, b_act[ids].unsqueeze(1)).squeeze(1)
                entropy = -(logp_all.exp() * logp_all).sum(1).mean()
                ratio = (logp - b_logp[ids]).exp()
                surrogate = torch.min(ratio * a, ratio.clamp(1 - CLIP, 1 + CLIP) * a)
                v_loss = (value(b_obs[ids]).squeeze(1) - b_ret[ids]).pow(2).mean()
                loss = -surrogate.mean() + VF_COEF * v_loss - ENT_COEF * entropy
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
                opt.step()
    seconds = time.perf_counter() - t0
    final = evaluate(torch, gym, policy)
    train_return = sum(returns[-100:]) / max(1, len(returns[-100:]))
    return steps, seconds, final, train_return


def evaluate(torch, gym, policy):
    """Greedy returns of EVAL_EPISODES episodes, episode i from seed EVAL_SEED + i."""
    totals = []
    for i in range(EVAL_EPISODES):
        env = gym.make("CartPole-v1")
        o, _ = env.reset(seed=EVAL_SEED + i)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                a = int(policy(torch.as_tensor(o, dtype=torch.float32).unsqueeze(0)).argmax(1))
            o, r, term, trunc, _ = env.step(a)
            total += r
            done = term or trunc
        totals.append(total)
    mean = sum(totals) / len(totals)
    std = (sum((t - mean) ** 2 for t in totals) / len(totals)) ** 0.5
    return mean, std


def step_time(torch, batch, iters):
    """Microseconds per forward + cross-entropy + backward + Adam step of a 4-64-64-2 tanh MLP."""
    torch.manual_seed(0)
    net = mlp(torch, 2, 1.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 4)
    y = torch.randint(0, 2, (batch,))

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(200):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return 1e6 * (time.perf_counter() - t0) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=100_000, help="environment steps of PPO")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--iters", type=int, default=2000, help="timed steps of the MLP micro-benchmark")
    args = p.parse_args()
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        log("PyTorch is not installed (`pip install torch`): %s: %s" % (type(e).__name__, e))
        return 3
    try:
        import gymnasium as gym
        import numpy as np
    except Exception as e:
        log("W7's PyTorch side needs gymnasium and NumPy (`pip install gymnasium numpy`): %s: %s"
            % (type(e).__name__, e))
        return 4
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    common = {"framework": "pytorch", "threads": args.threads, "version": torch.__version__,
              "machine": platform.machine()}
    for batch in (1, 64):
        us = step_time(torch, batch, args.iters)
        log("w7-step batch %d: %.1f us per step" % (batch, us))
        emit(dict(common, workload="w7-step", batch=batch, iters=args.iters, us_per_step=round(us, 2)))
    steps, seconds, (mean, std), train_return = ppo(torch, gym, np, args)
    log("w7: PPO %d steps in %.2f s; greedy return %.1f +- %.1f, last 100 training episodes %.1f"
        % (steps, seconds, mean, std, train_return))
    emit(dict(common, workload="w7", env_steps=steps, seconds=round(seconds, 4), final_return=round(mean, 2),
              final_std=round(std, 2), train_return=round(train_return, 2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
