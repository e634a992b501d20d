#!/usr/bin/env python3
"""Writes the interaction replay fixtures next to this script (deterministic):

- interactions-sample.csv:   time (RFC 3339), user, item, rating (1-5); 240 rows
- interactions-sample.jsonl: ts (seconds since 1970), user, item, click (0/1); 200 rows

Both cover 2026-01-01 .. 2026-01-08 (3 warm-up days before 2026-01-04, then 5 run days).
Users belong to one of three taste groups and mostly pick popular items of their group;
from 2026-01-06 six new items (it31..it36) launch and take a large share, so a model
frozen on the warm-up misses them. Rows are shuffled within each day, so the files are
not in time order. Malformed rows sit on fixed lines (listed in BAD_CSV / BAD_JSONL and
asserted by sim/tests/replay_recommend.rs). Run: python3 gen_interactions.py
"""
import json
import os
import random
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST_DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 8
LAUNCH_DAY = 5  # 2026-01-06
USERS = 25
ITEMS = 30
NEW_ITEMS = 6

# 1-based file line -> the malformed line written there (the header is line 1).
BAD_CSV = {
    12: "2026-01-01T09:00:00Z,u03,it04",                  # 3 fields, expected 4
    40: "yesterday,u05,it07,4",                          # bad time
    77: "2026-01-03T10:00:00Z,,it02,5",                  # empty user
    120: "2026-01-05T11:00:00Z,u08,it09,five",           # non-numeric rating
    200: "2025-12-20T08:00:00Z,u09,it10,5",              # before the warm-up
}
BAD_JSONL = {
    9: '{"ts": 1767240000, "user": "u02", "item": "it03", "click": 2}',      # click not 0/1
    33: '{"ts": 1767300000, "user": "u04", "item": "it05"}',                 # missing click
    57: '{"ts": 1767400000, "user": "u06", "item": ',                        # bad JSON
    150: '{"ts": 1767700000, "user": "u07", "item": "", "click": 1}',        # empty item
}


def pick(rng, user, day):
    """An item for `user` on run `day`: new items after the launch, else the group's."""
    if day >= LAUNCH_DAY and rng.random() < 0.5:
        return f"it{ITEMS + 1 + rng.randrange(NEW_ITEMS):02d}"
    group = user % 3
    pool = [i for i in range(1, ITEMS + 1) if i % 3 == group]
    if rng.random() < 0.3:
        pool = list(range(1, ITEMS + 1))
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    return f"it{rng.choices(pool, weights)[0]:02d}"


def rows(rng, per_day):
    """(time, user, item, liked) rows, shuffled within each day."""
    out = []
    for day in range(DAYS):
        day_rows = []
        for _ in range(per_day):
            user = 1 + rng.randrange(USERS)
            item = pick(rng, user, day)
            t = FIRST_DAY + timedelta(days=day, seconds=rng.randrange(86400))
            liked = rng.random() < 0.7
            day_rows.append((t, f"u{user:02d}", item, liked))
        rng.shuffle(day_rows)
        out.extend(day_rows)
    return out


def with_bad(lines, bad, first_line):
    """Inserts the malformed lines so each lands on its 1-based line number."""
    for line_no in sorted(bad):
        lines.insert(line_no - first_line, bad[line_no])
    return lines


def main():
    rng = random.Random(20260101)
    csv_lines = [
        f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{u},{i},{rng.randint(4, 5) if liked else rng.randint(1, 3)}"
        for t, u, i, liked in rows(rng, 30)
    ]
    csv_lines = ["time,user,item,rating"] + with_bad(csv_lines, BAD_CSV, 2)
    with open(os.path.join(HERE, "interactions-sample.csv"), "w") as f:
        f.write("\n".join(csv_lines) + "\n")
    json_lines = [
        json.dumps({"ts": int(t.timestamp()), "user": u, "item": i, "click": int(liked)})
        for t, u, i, liked in rows(rng, 25)
    ]
    json_lines = with_bad(json_lines, BAD_JSONL, 1)
    with open(os.path.join(HERE, "interactions-sample.jsonl"), "w") as f:
        f.write("\n".join(json_lines) + "\n")


if __name__ == "__main__":
    main()
