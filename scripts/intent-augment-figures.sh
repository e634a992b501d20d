#!/usr/bin/env bash
# Runs the governed intent loop with and without rare-intent text augmentation
# (scenarios/agents/intent.toml against intent-augment.toml) and prints, per seed and
# policy, the first day the new intent's F1 reaches 0.85, its F1 on each of days 20-27
# and the last-week accuracy (the README's "Text augmentation in the governed intent loop" figures).
#
# Usage: LEDGERLOOP=<binary> [LABELS_PER_DAY=N] scripts/intent-augment-figures.sh [SEED...]
# (default seed 7). LABELS_PER_DAY (default: the policies' 300) sets both the Perceiver's
# daily label budget and the annotators' (`oracle.daily_budget`), on copies of the two
# policies. Needs jq. Runs go to out/intent-aug-l<N>-seed<S>-<policy>. The new intent's F1
# is computed from each day's served confusion matrix in summary.json (all of the day's
# messages).
set -euo pipefail

bin="${LEDGERLOOP:-${CARGO_TARGET_DIR:-target}/release/ledgerloop}"
labels="${LABELS_PER_DAY:-300}"
seeds=("${@:-7}")
policy_dir=$(mktemp -d)
trap 'rm -rf "$policy_dir"' EXIT
for name in intent intent-augment; do
    sed "s/^label_budget_per_day = 300 /label_budget_per_day = ${labels} /" \
        "scenarios/agents/${name}.toml" > "${policy_dir}/${name}.toml"
done
policies=(
    "off:${policy_dir}/intent.toml"
    "on:${policy_dir}/intent-augment.toml"
)
# Index of `mesh_wifi_order` in scenarios/intent.toml (the last of 17 intents).
new_intent=16

printf '| seed | augmentation | new intent F1 >= 0.85 from day | F1 days 20-27 | mean F1 days 20-27 | last week served | jobs (with variants) | variants of the new intent per job |\n'
printf '|---:|---|---:|---|---:|---:|---|---|\n'
for seed in "${seeds[@]}"; do
    for entry in "${policies[@]}"; do
        name="${entry%%:*}"
        policy="${entry#*:}"
        out="out/intent-aug-l${labels}-seed${seed}-${name}"
        rm -rf "$out"
        "$bin" --quiet sim --scenario scenarios/intent.toml --seed "$seed" --agents "$policy" \
            --set "oracle.daily_budget=${labels}" --out "$out" > /dev/null
        jobs=$("$bin" log show "$out/log" --stream workers --json |
            jq -s '[.[] | select(.event_type == "ModelTrained")] |
                "\(length) (\([.[] | select((.payload.augmentation.synthetic_rows // 0) > 0)] | length)) | \([.[] | .payload.augmentation.synthetic_per_class[$k] // 0 | tostring] | join(" "))"' -r --argjson k "$new_intent")
        jq -r --arg seed "$seed" --arg name "$name" --arg jobs "$jobs" --argjson k "$new_intent" '
            def f1($d): $d.served.confusion as $c | $c.n_classes as $n | $c.counts as $m |
                ($m[$k * $n + $k]) as $tp |
                ([range(0; $n) | $m[$k * $n + .]] | add - $tp) as $fn |
                ([range(0; $n) | $m[. * $n + $k]] | add - $tp) as $fp |
                if (2 * $tp + $fn + $fp) == 0 then 0 else 2 * $tp / (2 * $tp + $fn + $fp) end;
            def r3: . * 1000 | round / 1000;
            ([.days[] | select(f1(.) >= 0.85) | .day] | first // "never") as $first |
            [.days[] | select(.day >= 20 and .day <= 27) | f1(.)] as $f1 |
            ($f1 | map(r3 | tostring) | join(" ")) as $f1s |
            "| \($seed) | \($name) | \($first) | \($f1s) | \($f1 | add / length | r3) | \(.last_week.served.accuracy | r3) | \($jobs) |"
        ' "$out/summary.json"
    done
done
