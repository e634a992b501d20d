#!/usr/bin/env bash
# Runs the governed ONT loop with and without budgets and prints, per run, the labels and
# modelled CPU seconds spent against the accuracy achieved (the README's cost figures).
#
# Usage: scripts/costs-figures.sh [SEED...]   (default: 7)
# Needs a release build (`cargo build --release`, or LEDGERLOOP=path/to/binary) and jq.
# POLICIES=name,name picks some of the policies below (default: all); EXTRA="--set
# ont.devices=1500 --days 30" passes more arguments to every run. Runs go to
# out/costs-seed<S>-*.
set -euo pipefail

bin="${LEDGERLOOP:-${CARGO_TARGET_DIR:-target}/release/ledgerloop}"
read -r -a extra <<< "${EXTRA:-}"
seeds=("${@:-7}")
policies=(
    "none:scenarios/agents/ont.toml"
    "compute:scenarios/agents/ont-budget.toml"
    "compute-iteration:scenarios/agents/ont-budget-iteration.toml"
    "compute+labels:scenarios/agents/ont-budget-labels.toml"
)

printf '| seed | budget | last-week accuracy (served / static) | labels bought | CPU s | jobs | deferred (budget / not worth it) | CPU s per point | labels per point |\n'
printf '|---:|---|---|---:|---:|---:|---|---:|---:|\n'
for seed in "${seeds[@]}"; do
    for entry in "${policies[@]}"; do
        name="${entry%%:*}"
        policy="${entry#*:}"
        if [[ -n "${POLICIES:-}" && ",${POLICIES}," != *",${name},"* ]]; then
            continue
        fi
        out="out/costs-seed${seed}-${name/+/-}"
        rm -rf "$out"
        "$bin" sim --scenario scenarios/ont-offline.toml --seed "$seed" --agents "$policy" \
            --out "$out" --quiet "${extra[@]}" > /dev/null
        jq -r --arg seed "$seed" --arg name "$name" '
            .costs as $c |
            "| \($seed) | \($name) | \(.last_week.served.accuracy * 1000 | round / 1000) / \(.last_week.static_arm.accuracy * 1000 | round / 1000) | \($c.totals.labels_bought) | \($c.totals.cpu_seconds * 10 | round / 10) | \($c.totals.jobs_started) | \($c.deferred_by_reason.budget_exhausted // 0) / \($c.deferred_by_reason.not_worth_it // 0) | \(if $c.per_accuracy_point then ($c.per_accuracy_point.cpu_seconds_per_point * 100 | round / 100) else "-" end) | \(if $c.per_accuracy_point then ($c.per_accuracy_point.labels_per_point | round) else "-" end) |"
        ' "$out/summary.json"
    done
done
