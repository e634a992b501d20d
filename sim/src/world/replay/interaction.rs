//! Interaction replay files: `(time, user, item, rating and/or click)` rows, read through
//! the same CSV / JSON-lines reader as the other replay kinds and turned into dense ids.
//!
//! Users and items are strings in the files; each gets a dense index in first-seen
//! order over the replay order (time, then file, then line), counting only admitted
//! rows, so the mapping depends on nothing but the files. A row is positive when its
//! click is 1 or its rating is at least `positive_rating`. A row with the wrong number of
//! fields, a bad time, an empty user or item, a non-numeric rating, a click other than
//! 0/1, a time outside the run window, or beyond `max_rows` is quarantined with its file,
//! line and reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::parse::{self, FileSpec, Sourced};
use crate::clock::Clock;
use crate::config::replay::{InteractionConfig, ReplayConfig};
use crate::error::Result;
use crate::world::QuarantinedRow;

/// One admitted row, in replay order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interaction {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Simulated hour (hours since the warm-up began).
    pub hour: u64,
    /// Dense user index.
    pub user: u32,
    /// Dense item index.
    pub item: u32,
    /// Click = 1, or rating at least the threshold.
    pub positive: bool,
    /// Index of the source file in `replay.files`.
    pub file: usize,
    /// 1-based line in that file.
    pub line: u64,
}

/// Every admitted row and the id tables.
#[derive(Debug, Clone)]
pub struct InteractionLog {
    /// Rows in replay order: time, then file order, then line order.
    pub events: Vec<Interaction>,
    /// User id of each dense user index.
    pub users: Vec<String>,
    /// Item id of each dense item index.
    pub items: Vec<String>,
    /// Items first seen during the warm-up (dense indices below this).
    pub warmup_items: usize,
    /// Rows set aside, by file then line.
    pub quarantined: Vec<QuarantinedRow>,
}

/// A parsed row before ids are assigned.
#[derive(Debug, Clone)]
struct RawRow {
    user: String,
    item: String,
    positive: bool,
}

/// Column positions in one file.
struct Layout {
    time: usize,
    user: usize,
    item: usize,
    rating: Option<usize>,
    click: Option<usize>,
    names: Vec<String>,
}

/// Loads every file of `cfg` (paths relative to `base`) for a run of `days` days.
pub fn load(cfg: &ReplayConfig, base: &Path, clock: Clock, days: u32) -> Result<InteractionLog> {
    let paths: Vec<PathBuf> = cfg.files.iter().map(|f| base.join(f)).collect();
    let columns = cfg.interaction.as_ref().ok_or_else(|| {
        parse::file_error(
            paths.first().map_or(Path::new(""), PathBuf::as_path),
            "kind = \"interaction\" needs a [replay.interaction] section",
        )
    })?;
    let mut loaded = Vec::new();
    let mut quarantined = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let spec = FileSpec {
            path,
            index,
            format: cfg.format,
            max_rows: cfg.max_rows as usize,
        };
        parse::read_file(
            &spec,
            |names| layout(cfg, columns, names),
            |layout, fields, _| parse_row(columns, layout, fields),
            &mut loaded,
            &mut quarantined,
        )?;
    }
    let window = (
        clock.time_of(0),
        clock.time_of(clock.first_hour_of_day(days)),
    );
    let mut log = admit(loaded, window, clock, &paths, &mut quarantined);
    parse::sort_quarantined(&mut quarantined, &paths);
    log.quarantined = quarantined;
    Ok(log)
}

/// Sorts rows into replay order, quarantines those outside the run `window` and assigns
/// dense ids in first-seen order.
fn admit(
    mut loaded: Vec<Sourced<RawRow>>,
    window: (DateTime<Utc>, DateTime<Utc>),
    clock: Clock,
    paths: &[PathBuf],
    quarantined: &mut Vec<QuarantinedRow>,
) -> InteractionLog {
    loaded.sort_by_key(|l| (l.time, l.file, l.line));
    let mut users = Ids::default();
    let mut items = Ids::default();
    let mut events = Vec::with_capacity(loaded.len());
    let mut warmup_items = 0;
    for l in loaded {
        if let Some(reason) = parse::outside_window(l.time, window) {
            quarantined.push(QuarantinedRow {
                file: paths[l.file].display().to_string(),
                line: l.line,
                reason,
            });
            continue;
        }
        let hour = ((l.time - window.0).num_seconds() / 3600) as u64;
        let event = Interaction {
            time: l.time,
            hour,
            user: users.index(l.row.user),
            item: items.index(l.row.item),
            positive: l.row.positive,
            file: l.file,
            line: l.line,
        };
        if hour < clock.warmup_hours() {
            warmup_items = items.names.len();
        }
        events.push(event);
    }
    InteractionLog {
        events,
        users: users.names,
        items: items.names,
        warmup_items,
        quarantined: Vec::new(),
    }
}

/// Dense indices of string ids in first-seen order. The map is only looked up, never
/// iterated, so its order cannot reach any output.
#[derive(Default)]
struct Ids {
    by_name: BTreeMap<String, u32>,
    names: Vec<String>,
}

impl Ids {
    fn index(&mut self, name: String) -> u32 {
        if let Some(i) = self.by_name.get(&name) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.by_name.insert(name.clone(), i);
        self.names.push(name);
        i
    }
}

fn layout(
    cfg: &ReplayConfig,
    columns: &InteractionConfig,
    names: &[String],
) -> std::result::Result<Layout, String> {
    let find = |name: &str| -> std::result::Result<usize, String> {
        names
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("no column `{name}` (columns: {})", names.join(", ")))
    };
    let optional = |name: &str| (!name.is_empty()).then(|| find(name)).transpose();
    Ok(Layout {
        time: find(&cfg.time_column)?,
        user: find(&columns.user_column)?,
        item: find(&columns.item_column)?,
        rating: optional(&columns.rating_column)?,
        click: optional(&columns.click_column)?,
        names: names.to_vec(),
    })
}

fn parse_row(
    columns: &InteractionConfig,
    layout: &Layout,
    fields: &[String],
) -> std::result::Result<(DateTime<Utc>, RawRow), String> {
    let time = parse::time(&fields[layout.time])?;
    let id = |i: usize| {
        let v = fields[i].trim();
        if v.is_empty() {
            Err(format!("empty `{}`", layout.names[i]))
        } else {
            Ok(v.to_string())
        }
    };
    let (user, item) = (id(layout.user)?, id(layout.item)?);
    let mut positive = false;
    if let Some(i) = layout.rating {
        let v = fields[i].trim();
        let rating: f64 = v
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite())
            .ok_or_else(|| format!("`{}` = `{v}` is not a number", layout.names[i]))?;
        positive |= rating >= columns.positive_rating;
    }
    if let Some(i) = layout.click {
        positive |= match fields[i].trim() {
            "1" | "true" => true,
            "0" | "false" => false,
            v => return Err(format!("`{}` = `{v}` is not 0 or 1", layout.names[i])),
        };
    }
    Ok((
        time,
        RawRow {
            user,
            item,
            positive,
        },
    ))
}
