//! Policy and batch builders shared by the Perceiver tests.

#![allow(dead_code)]

use ledgerloop_agents::perceiver::{
    ConversionKind, FeaturePolicy, PerceiverInput, PerceiverPolicy, Reading, ReadingBatch,
    UnitConversion,
};

pub fn policy() -> PerceiverPolicy {
    PerceiverPolicy {
        features: vec![
            FeaturePolicy {
                name: "rx_power_dbm".into(),
                unit: "dBm".into(),
                min: -40.0,
                max: 10.0,
                monitor: true,
            },
            FeaturePolicy {
                name: "temp_c".into(),
                unit: "C".into(),
                min: -20.0,
                max: 80.0,
                monitor: false,
            },
        ],
        conversions: vec![UnitConversion {
            feature: "rx_power_dbm".into(),
            from_unit: "mW".into(),
            kind: ConversionKind::Log10,
            scale: 10.0,
            offset: 0.0,
        }],
        pseudo_label_threshold: 0.95,
        ..PerceiverPolicy::default()
    }
}

pub fn reading(
    item: &str,
    device: &str,
    features: Vec<Option<f64>>,
    probabilities: Vec<f64>,
) -> Reading {
    Reading {
        item_id: item.into(),
        device_id: device.into(),
        features,
        probabilities,
        text: String::new(),
    }
}

pub fn ok_row(item: &str, probabilities: Vec<f64>) -> Reading {
    reading(
        item,
        &format!("dev-{item}"),
        vec![Some(-10.0), Some(20.0)],
        probabilities,
    )
}

pub fn batch(id: &str, hour: u64, rows: Vec<Reading>) -> PerceiverInput {
    PerceiverInput::Batch(ReadingBatch {
        batch_id: id.into(),
        source: "shard-0".into(),
        hour,
        rows,
        ..Default::default()
    })
}
