#!/usr/bin/env bash
# Transfer figures (README, "Transfer"): per seed, runs the ONT-offline source for
# SOURCE_DAYS days, then the new-model fleet cold and warm-started from the source's final champion,
# and prints the labels each needed to reach the target accuracy and its last-week
# accuracy.
#
# Labels to reach the target = labelled warm-up rows + the labels the loop asked for on
# every day up to and including the first day whose served accuracy (class-balanced
# review sample) is at or above the target; "-" when no day reaches it.
#
# Usage: scripts/transfer-figures.sh TARGET DEVICES SOURCE_DAYS SEED...   (e.g. 0.70 10000 90 11 42)
# Needs a release build (`cargo build --release`, or LEDGERLOOP=path/to/binary) and jq.
# Runs go to out/transfer-seed<S>-{source,cold,warm}.
set -euo pipefail

target="$1"
devices="$2"
source_days="$3"
shift 3
bin="${LEDGERLOOP:-${CARGO_TARGET_DIR:-target}/release/ledgerloop}"

to_target='
    ([.trainings[0].class_counts[]] | add) as $warmup
    | reduce .days[] as $d ({asked: 0, hit: null};
        if .hit == null then
            .asked += $d.labels.asked
            | if $d.served.accuracy >= $t then .hit = {labels: ($warmup + .asked), day: $d.day} else . end
        else . end)
    | .hit'

printf '| seed | labels to %s: cold | warm-started | first day at target: cold / warm | last week served: cold / warm | static | oracle |\n' "$target"
printf '|---:|---:|---:|---|---|---:|---:|\n'
for seed in "$@"; do
    base="out/transfer-seed${seed}"
    rm -rf "$base-source" "$base-cold" "$base-warm"
    "$bin" --quiet sim --scenario scenarios/ont-offline.toml --seed "$seed" --days "$source_days" \
        --set "ont.devices=$devices" --out "$base-source" > /dev/null
    "$bin" --quiet sim --scenario scenarios/ont-new-model.toml --seed "$seed" \
        --set "ont.devices=$devices" --out "$base-cold" > /dev/null
    "$bin" --quiet sim --scenario scenarios/ont-new-model.toml --seed "$seed" \
        --set "ont.devices=$devices" --out "$base-warm" --warm-start-from "$base-source" > /dev/null
    cold=$(jq -c --argjson t "$target" "$to_target" "$base-cold/summary.json")
    warm=$(jq -c --argjson t "$target" "$to_target" "$base-warm/summary.json")
    week() { jq -r "(.last_week.$2.accuracy * 1000 | round / 1000)" "$1/summary.json"; }
    field() { jq -r "if . == null then \"-\" else .$2 end" <<< "$1"; }
    printf '| %s | %s | %s | %s / %s | %s / %s | %s | %s |\n' "$seed" \
        "$(field "$cold" labels)" "$(field "$warm" labels)" \
        "$(field "$cold" day)" "$(field "$warm" day)" \
        "$(week "$base-cold" served)" "$(week "$base-warm" served)" \
        "$(week "$base-cold" static_arm)" "$(week "$base-cold" oracle)"
done
