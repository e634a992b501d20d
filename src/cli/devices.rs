//! `ledgerloop devices` (the simulated world over NATS) and `ledgerloop predict` (ask
//! the mesh's served model).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::mesh::run::connect;
use ledgerloop_runtime::mesh::subjects;
use ledgerloop_runtime::mesh::world::devices::run_devices;
use ledgerloop_runtime::mesh::world::{PredictReply, PredictRequest, WireInputs};
use ledgerloop_sim::config::Scenario;

use super::mesh::NatsArgs;

/// Examples of `ledgerloop devices`.
pub const DEVICES_EXAMPLES: &str = "\
Examples:
  # Start the mesh first; it waits for the world.
  ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --world nats &
  # Then the fleet, as fast as the mesh answers ...
  ledgerloop devices --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml
  # ... or held to 20,000 readings a second.
  ledgerloop devices --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --rate 20000";

/// Examples of `ledgerloop predict`.
pub const PREDICT_EXAMPLES: &str = "\
Examples:
  # Ask the served model of a running mesh about device 17 (ONT columns in scenario order).
  ledgerloop predict --nats nats://127.0.0.1:4222 --scenario ont-offline --device 17 \\
      --features=-19.5,2.5,12.0,45.0,12.0,0,200,0.01,1200,1,35,0,-0.2,0,0.1,1.5,0.05,-0.1
  # Text worlds take the utterance.
  ledgerloop predict --nats nats://127.0.0.1:4222 --scenario intent --device 4 --text 'my bill is wrong'";

/// Arguments of `ledgerloop devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub run: super::sim::ScenarioArgs,
    /// Readings per second of wall time; none: as fast as the mesh answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Folder for the world's local files (summary.json, the sim's own copies); defaults
    /// to `out/devices-<scenario name>-seed<seed>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the world against a mesh started with `--world nats`.
pub fn run_devices_command(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    if let Some(rate) = args.rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate {rate}: readings per second must be positive"
        );
    }
    let overrides = args.run.overrides();
    let scenario = Scenario::load(&args.run.scenario, &overrides)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "devices-{}-seed{}",
            scenario.scenario.name, scenario.scenario.seed
        ))
    });
    let options = args.nats.options()?;
    let summary = run_devices(&scenario, &overrides, &options, &out, args.rate)
        .with_context(|| format!("running the devices of {}", args.run.scenario.display()))?;
    print!("{}", summary.table());
    println!("summary:   {}", out.join("summary.json").display());
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `ledgerloop predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Scenario name (the `ll.<scenario>.` subject prefix).
    #[arg(long)]
    pub scenario: String,
    /// Device (routing) key: decides champion or canary.
    #[arg(long)]
    pub device: u64,
    /// Feature values in the world's column order, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        conflicts_with = "text"
    )]
    pub features: Vec<f32>,
    /// The utterance, for text worlds.
    #[arg(long)]
    pub text: Option<String>,
    /// Ask this version instead of the route's choice.
    #[arg(long)]
    pub version: Option<String>,
}

/// Sends one prediction request and prints the answer.
pub fn run_predict(args: PredictArgs) -> anyhow::Result<ExitCode> {
    let inputs = match &args.text {
        Some(text) => WireInputs::Text {
            texts: vec![text.clone()],
        },
        None if !args.features.is_empty() => WireInputs::Tabular {
            n_features: args.features.len(),
            values: args.features.clone(),
        },
        None => anyhow::bail!("give --features (tabular worlds) or --text (text worlds)"),
    };
    let request = PredictRequest {
        version: args.version.clone(),
        keys: vec![args.device],
        inputs,
    };
    let options = args.nats.options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply: PredictReply = runtime.block_on(async {
        let client = connect(&options).await?;
        let subject = subjects::predict(&args.scenario);
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client.request(subject.clone(), serde_json::to_vec(&request)?.into()),
        )
        .await
        .with_context(|| format!("no answer on {subject} within 10 s"))?
        .with_context(|| {
            format!(
                "no answer on {subject}; hint: is a mesh of `{}` running?",
                args.scenario
            )
        })?;
        anyhow::Ok(serde_json::from_slice(&answer.payload)?)
    })?;
    match reply {
        PredictReply::Predicted { versions, classes } => {
            println!(
                "device {}: class {} from version {}",
                args.device,
                classes.first().copied().unwrap_or_default(),
                versions.first().map_or("?", String::as_str)
            );
            Ok(ExitCode::SUCCESS)
        }
        PredictReply::Refused { reason } => anyhow::bail!("the mesh refused: {reason}"),
    }
}
