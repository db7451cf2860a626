#!/usr/bin/env bash
# The held-out evidence for one prior, as compare.py reads it: the real development set per motion
# (acting3 and freestyle1 informed the blazepose family's fit; freestyle2 and freestyle3 did not)
# and every zoo family on the validation subjects (whom no training touches).
#   bash results/prior_selection/evaluate_prior.sh NAME CHECKPOINT [MAX_CLIPS]
set -euo pipefail
name=$1 model=$2 clips=${3:-20}
out=$(dirname "$0")/reports/$name
mkdir -p "$out"
for m in acting3 freestyle1 freestyle2 freestyle3; do
  stride-ros evaluate --real --motions "$m" --model "$model" --jobs 1 --quiet \
    --methods one_euro,prior,stream_lag0_prior,stream_lag8_prior --lags 0,8 --json "$out/real_$m.json" > "$out/real_$m.txt"
done
for f in sim blazepose lifting uncalibrated hfr_drops; do
  stride-ros evaluate --family "$f" --model "$model" --jobs 1 --quiet --max-clips "$clips" \
    --methods one_euro,prior,stream_lag0_prior --lags 0 --json "$out/zoo_$f.json" > "$out/zoo_$f.txt"
done
