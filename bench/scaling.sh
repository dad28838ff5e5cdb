#!/bin/bash
# Usage: BACKPROP=target/release/backprop FASHION=DIR bench/scaling.sh   (a build with --features mpi)
# Scaling on the 2-core machine: W2 (1 epoch Fashion-MNIST, 784-256-128-10, Adam 1e-3 constant, global batch 64)
# and W4 (baby GPT, global batch 12, 200 steps). Best of several alternating runs; prints each run.
B=$(realpath ${BACKPROP:-target/release/backprop})
FM=${FASHION:-/usr/share/datasets/fashion-mnist}
MPI="mpirun --allow-run-as-root --oversubscribe -np 2"
W2="train mnist --data $FM --epochs 1 --schedule constant --val-fraction 0"
W4="train gpt --iters 200 --eval-every 200"
mkdir -p ${OUT:-runs/scaling} && cd ${OUT:-runs/scaling}
for rep in 1 2 3; do
  for cfg in r1t1 r1t2 r2t1; do
    case $cfg in
      r1t1) pre=""; a="--threads 1"; b2=64; b4=12;;
      r1t2) pre=""; a="--threads 2"; b2=64; b4=12;;
      r2t1) pre="$MPI"; a="--threads 1 --distributed"; b2=32; b4=6;;
    esac
    l=$(cut -d' ' -f1 /proc/loadavg)
    rm -rf w2_$cfg; $pre $B $W2 $a --batch-size $b2 --out w2_$cfg --json > /dev/null 2>w2_$cfg.err
    s=$(python3 -c "import json;r=[json.loads(l) for l in open('w2_$cfg/history.jsonl')];print(r[0]['seconds'])")
    acc=$(python3 -c "import json;r=[json.loads(l) for l in open('w2_$cfg/history.jsonl')];print(r[0].get('train_accuracy'))")
    echo "W2 rep $rep $cfg seconds $s train_acc $acc load $l"
    l=$(cut -d' ' -f1 /proc/loadavg)
    rm -rf w4_$cfg; $pre $B $W4 $a --batch-size $b4 --out w4_$cfg --json > /dev/null 2>w4_$cfg.err
    m=$(python3 -c "import json;r=[json.loads(l) for l in open('w4_$cfg/history.jsonl')];print(r[-1]['metrics']['ms_per_step'], r[-1]['val_loss'])")
    echo "W4 rep $rep $cfg ms_per_step,val_loss $m load $l"
  done
done
