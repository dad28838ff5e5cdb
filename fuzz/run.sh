#!/usr/bin/env bash
# Long fuzzing runs of every file loader (see fuzz/src/main.rs):
#
#   fuzz/run.sh                         # every loader for 10 minutes, two at a time
#   fuzz/run.sh --minutes 30 --target hdf5,csv --jobs 1 --seed 7
#
# Runs at the lowest CPU priority. Failing inputs are saved under fuzz/crashes/
# (replay one with: cargo run -p backprop-fuzz --profile test -- --replay TARGET DIR).
# The exit status is 1 if any loader panicked, aborted, hung or gave an unclear error.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
[[ " ${args[*]-} " == *" --minutes "* || " ${args[*]-} " == *" --seconds "* ]] || args+=(--minutes 10)
[[ " ${args[*]-} " == *" --jobs "* ]] || args+=(--jobs 2)
cargo build --quiet -p backprop-fuzz --profile test
exec nice -n 19 cargo run --quiet -p backprop-fuzz --profile test -- "${args[@]}"
