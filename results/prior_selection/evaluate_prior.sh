#!/usr/bin/env bash
# The held-out evidence for one prior, as compare.py reads it: the real development set per motion
# (acting3 and freestyle1 informed the blazepose family's fit; freestyle2 and freestyle3 did not)
# and every zoo family on the validation subjects (whom no training touches).
#   bash results/prior_selection/evaluate_prior.sh NAME CHECKPOINT [MAX_CLIPS]
# A design run (choosing among candidates before the comparison judges one): other corruption draws
# of the zoo and only the motions that informed the fit, into reports/design/NAME:
#   DESIGN=1 bash results/prior_selection/evaluate_prior.sh NAME CHECKPOINT
set -euo pipefail
name=$1 model=$2 clips=${3:-20}
if [ -n "${DESIGN:-}" ]; then
  out=$(dirname "$0")/reports/design/$name seed=1 motions="acting3 freestyle1"
else
  out=$(dirname "$0")/reports/$name seed=0 motions="acting3 freestyle1 freestyle2 freestyle3"
fi
mkdir -p "$out"
for m in $motions; do
  stride-ros evaluate --real --motions "$m" --model "$model" --jobs 1 --quiet \
    --methods one_euro,prior,stream_lag0_prior,stream_lag8_prior --lags 0,8 --json "$out/real_$m.json" > "$out/real_$m.txt"
done
for f in sim blazepose lifting uncalibrated hfr_drops; do
  stride-ros evaluate --family "$f" --model "$model" --jobs 1 --quiet --max-clips "$clips" --seed "$seed" \
    --methods one_euro,prior,stream_lag0_prior --lags 0 --json "$out/zoo_$f.json" > "$out/zoo_$f.txt"
done
