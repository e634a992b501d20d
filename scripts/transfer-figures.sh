#!/usr/bin/env bash
# Transfer figures (README, "Transfer"): per seed, runs a source, then the new-model fleet
# cold and warm-started from the source's final champion, and prints the labels each
# needed to reach the target accuracy and its last-week accuracy.
#
# SOURCE is `region` (an established region of the new-model fleet, seed + 100: a week of
# labelled history at 2,000 readings per class a day, run for SOURCE_DAYS days) or
# `offline` (the ONT-offline fleet, same seed, run for SOURCE_DAYS days).
#
# Labels to reach the target = labelled warm-up rows + the labels the loop asked for on
# the days before the first day whose served accuracy (class-balanced review sample) is
# at or above the target (a day's answers arrive a day later); "-" when no day reaches it.
#
# Usage: scripts/transfer-figures.sh TARGET DEVICES SOURCE SOURCE_DAYS SEED...
#        (e.g. 0.75 10000 region 1 11 42, or 0.75 10000 offline 90 11 42)
# Needs a release build (`cargo build --release`, or LEDGERLOOP=path/to/binary) and jq.
# Runs go to out/transfer-<SOURCE>-seed<S>-{source,cold,warm}.
set -euo pipefail

target="$1"
devices="$2"
source_kind="$3"
source_days="$4"
shift 4
case "$source_kind" in
    region | offline) ;;
    *) echo "SOURCE must be region or offline, not '$source_kind'" >&2; exit 2 ;;
esac
bin="${LEDGERLOOP:-${CARGO_TARGET_DIR:-target}/release/ledgerloop}"

to_target='
    ([.trainings[0].class_counts[]] | add) as $warmup
    | reduce .days[] as $d ({asked: 0, hit: null};
        if .hit == null then
            (if $d.served.accuracy >= $t then .hit = {labels: ($warmup + .asked), day: $d.day} else . end)
            | .asked += $d.labels.asked
        else . end)
    | .hit'

printf '| seed | labels to %s: cold | warm-started | first day at target: cold / warm | last week served: cold / warm | static | oracle |\n' "$target"
printf '|---:|---:|---:|---|---|---:|---:|\n'
for seed in "$@"; do
    base="out/transfer-${source_kind}-seed${seed}"
    rm -rf "$base-source" "$base-cold" "$base-warm"
    if [ "$source_kind" = region ]; then
        "$bin" --quiet sim --scenario scenarios/ont-new-model.toml --seed "$((seed + 100))" \
            --days "$source_days" --set "ont.devices=$devices" --set baselines.train_days=7 \
            --set baselines.rows_per_class_per_day=2000 --out "$base-source" > /dev/null
    else
        "$bin" --quiet sim --scenario scenarios/ont-offline.toml --seed "$seed" --days "$source_days" \
            --set "ont.devices=$devices" --out "$base-source" > /dev/null
    fi
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
