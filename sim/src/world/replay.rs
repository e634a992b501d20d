//! The replay world: rows read from CSV or JSON-lines files and replayed in time order,
//! hour by hour, through the same engine (label oracle, feedback, baselines) as the
//! generated worlds.
//!
//! Schema (column names are set in `[replay]`):
//! - `kind = "tabular"`: a time column, a label column, an optional key column, and every
//!   other column a numeric feature (in file order);
//! - `kind = "text"`: a time column, a text column, a label (intent) column, an optional
//!   key column; other columns are ignored.
//!
//! A row that cannot be used (wrong number of fields, bad time, non-numeric feature,
//! unknown class, outside the run's time window) is quarantined with its file, line and
//! reason, and listed in the summary; it is never silently dropped.

pub mod interaction;
mod parse;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::replay::{ReplayConfig, ReplayKind};
use crate::data::{Batch, FeatureSpec, Inputs, TaskShape};
use crate::error::{Error, Result};
use crate::world::{QuarantinedRow, World};

/// One usable row.
#[derive(Debug, Clone)]
struct Row {
    hour: u64,
    key: u64,
    features: Vec<f32>,
    text: String,
    label: String,
}

/// A row with its source, before time-window and class checks.
type Loaded = parse::Sourced<Row>;

/// The replay world.
#[derive(Debug)]
pub struct ReplayWorld {
    shape: TaskShape,
    kind: ReplayKind,
    rows: Vec<(Row, u32)>,
    cursor: usize,
    quarantined: Vec<QuarantinedRow>,
}

/// Column positions of a file.
struct Layout {
    time: usize,
    label: usize,
    text: Option<usize>,
    key: Option<usize>,
    features: Vec<usize>,
    names: Vec<String>,
}

impl ReplayWorld {
    /// Loads every file of `cfg` (paths relative to `base`), for a run of `days` days.
    pub fn new(cfg: &ReplayConfig, base: &Path, clock: Clock, days: u32) -> Result<Self> {
        let mut loaded = Vec::new();
        let mut quarantined = Vec::new();
        let mut feature_names: Option<Vec<String>> = None;
        let paths: Vec<PathBuf> = cfg.files.iter().map(|f| base.join(f)).collect();
        for (i, path) in paths.iter().enumerate() {
            let names = load_file(cfg, path, i, &mut loaded, &mut quarantined)?;
            match &feature_names {
                Some(prev) if *prev != names => {
                    return Err(replay_error(
                        path,
                        "its feature columns differ from the first file's",
                    ));
                }
                _ => feature_names = Some(names),
            }
        }
        let window = (
            clock.time_of(0),
            clock.time_of(clock.first_hour_of_day(days)),
        );
        let (rows, labels) = admit(cfg, loaded, window, &paths, &mut quarantined);
        let class_names: Vec<String> = if cfg.classes.is_empty() {
            labels.into_iter().collect()
        } else {
            cfg.classes.clone()
        };
        let rows = rows
            .into_iter()
            .map(|r| {
                let class = class_names.iter().position(|c| *c == r.label).unwrap_or(0) as u32;
                (r, class)
            })
            .collect();
        let features = feature_names
            .unwrap_or_default()
            .into_iter()
            .map(|name| FeatureSpec {
                log_scale: cfg.log_scale_columns.contains(&name),
                name,
            })
            .collect();
        Ok(Self {
            shape: TaskShape {
                class_names,
                features,
                slice_names: vec!["all".into()],
            },
            kind: cfg.kind,
            rows,
            cursor: 0,
            quarantined,
        })
    }

    /// Rows that will be replayed.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// Sorts loaded rows by time and keeps those inside the run `window` with a known class;
/// the others are quarantined. Returns the kept rows (with their hour) and the labels seen.
fn admit(
    cfg: &ReplayConfig,
    mut loaded: Vec<Loaded>,
    window: (DateTime<Utc>, DateTime<Utc>),
    paths: &[PathBuf],
    quarantined: &mut Vec<QuarantinedRow>,
) -> (Vec<Row>, BTreeSet<String>) {
    // Stable order: ties keep file order, then line order.
    loaded.sort_by_key(|l| (l.time, l.file, l.line));
    let mut rows = Vec::with_capacity(loaded.len());
    let mut labels = BTreeSet::new();
    let quarantine = |l: &Loaded, reason: String| QuarantinedRow {
        file: paths[l.file].display().to_string(),
        line: l.line,
        reason,
    };
    for l in loaded {
        if let Some(reason) = parse::outside_window(l.time, window) {
            quarantined.push(quarantine(&l, reason));
        } else if !cfg.classes.is_empty() && !cfg.classes.contains(&l.row.label) {
            quarantined.push(quarantine(&l, format!("unknown class `{}`", l.row.label)));
        } else {
            labels.insert(l.row.label.clone());
            let mut row = l.row;
            row.hour = ((l.time - window.0).num_seconds() / 3600) as u64;
            rows.push(row);
        }
    }
    parse::sort_quarantined(quarantined, paths);
    (rows, labels)
}

fn replay_error(path: &Path, reason: impl Into<String>) -> Error {
    parse::file_error(path, reason)
}

/// Reads one file into `loaded`, quarantining bad lines; returns its feature names.
fn load_file(
    cfg: &ReplayConfig,
    path: &Path,
    file: usize,
    loaded: &mut Vec<Loaded>,
    quarantined: &mut Vec<QuarantinedRow>,
) -> Result<Vec<String>> {
    let spec = parse::FileSpec {
        path,
        index: file,
        format: cfg.format,
        max_rows: cfg.max_rows as usize,
    };
    let layout = parse::read_file(
        &spec,
        |columns| layout(cfg, columns),
        |layout, fields, line_no| parse_row(cfg, layout, fields, line_no),
        loaded,
        quarantined,
    )?;
    Ok(layout
        .features
        .iter()
        .map(|i| layout.names[*i].clone())
        .collect())
}

fn layout(cfg: &ReplayConfig, columns: &[String]) -> std::result::Result<Layout, String> {
    let find = |name: &str| columns.iter().position(|c| c == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| format!("no column `{name}` (columns: {})", columns.join(", ")))
    };
    let time = need(&cfg.time_column)?;
    let label = need(&cfg.label_column)?;
    let key = if cfg.key_column.is_empty() {
        None
    } else {
        Some(need(&cfg.key_column)?)
    };
    let text = match cfg.kind {
        ReplayKind::Text => Some(need(&cfg.text_column)?),
        ReplayKind::Tabular => None,
        ReplayKind::Interaction => {
            return Err("interaction rows drive the recommend loop, not a classifier".into())
        }
    };
    let features = match cfg.kind {
        ReplayKind::Tabular => (0..columns.len())
            .filter(|i| *i != time && *i != label && Some(*i) != key)
            .collect(),
        _ => Vec::new(),
    };
    if cfg.kind == ReplayKind::Tabular && features.is_empty() {
        return Err("a tabular replay needs at least one feature column".into());
    }
    Ok(Layout {
        time,
        label,
        text,
        key,
        features,
        names: columns.to_vec(),
    })
}

fn parse_row(
    cfg: &ReplayConfig,
    layout: &Layout,
    fields: &[String],
    line_no: u64,
) -> std::result::Result<(DateTime<Utc>, Row), String> {
    let time = parse::time(&fields[layout.time])?;
    let label = fields[layout.label].trim().to_string();
    if label.is_empty() {
        return Err(format!("empty `{}`", cfg.label_column));
    }
    let key = match layout.key {
        Some(k) => key_of(&fields[k]),
        None => line_no,
    };
    let mut features = Vec::with_capacity(layout.features.len());
    for i in &layout.features {
        let v: f32 = fields[*i]
            .trim()
            .parse()
            .map_err(|_| format!("`{}` = `{}` is not a number", layout.names[*i], fields[*i]))?;
        if !v.is_finite() {
            return Err(format!("`{}` is not finite", layout.names[*i]));
        }
        features.push(v);
    }
    let text = layout.text.map(|t| fields[t].clone()).unwrap_or_default();
    Ok((
        time,
        Row {
            hour: 0,
            key,
            features,
            text,
            label,
        },
    ))
}

/// A routing key: the number itself when numeric, else a stable hash of the text.
fn key_of(value: &str) -> u64 {
    value
        .trim()
        .parse()
        .unwrap_or_else(|_| crate::rng::stable_hash_str(value.trim()))
}

impl World for ReplayWorld {
    fn shape(&self) -> &TaskShape {
        &self.shape
    }

    fn empty_batch(&self) -> Batch {
        match self.kind {
            ReplayKind::Tabular => Batch::new(Inputs::Tabular {
                n_features: self.shape.features.len(),
                values: Vec::new(),
            }),
            ReplayKind::Text | ReplayKind::Interaction => {
                Batch::new(Inputs::Text { texts: Vec::new() })
            }
        }
    }

    fn generate(&mut self, hour: u64, batch: &mut Batch) -> Result<()> {
        batch.hour = hour;
        while let Some((row, class)) = self.rows.get(self.cursor) {
            if row.hour > hour {
                break;
            }
            match &mut batch.inputs {
                Inputs::Tabular { values, .. } => values.extend_from_slice(&row.features),
                Inputs::Text { texts } => texts.push(row.text.clone()),
            }
            batch.keys.push(row.key);
            batch.truth.push(*class);
            batch.slices.push(0);
            self.cursor += 1;
        }
        Ok(())
    }

    fn quarantined(&self) -> &[QuarantinedRow] {
        &self.quarantined
    }
}
