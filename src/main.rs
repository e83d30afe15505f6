//! Command line of privatelink-operator: `run`, `crds`, `plan`, `doctor`.
//! Parsing the arguments and handing them to the command is all it does.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privatelink_operator::{api, cli_plan};

#[derive(Parser)]
#[command(name = "privatelink-operator", version, about = "Kubernetes operator for AWS PrivateLink")]
#[cfg_attr(
    not(feature = "aws"),
    command(after_help = "Built without the `aws` feature: `plan` against an empty account and `crds` only. \
                          `run`, `doctor` and `plan --live` need the default build (`cargo build`).")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the kubeconfig (or in-cluster config).
    #[cfg(feature = "aws")]
    Run(Box<privatelink_operator::config::Settings>),
    /// Print the CustomResourceDefinitions (what crds/ holds).
    Crds,
    /// Validate manifests and print the AWS changes they would cause.
    Plan(cli_plan::command::Args),
    /// Explain from live AWS why an endpoint, endpoint service or security
    /// group cannot be deleted or carries no traffic. Read-only: Describe,
    /// Get and Lookup calls (and, with --check-permissions, a DryRun).
    /// Exit 0: nothing blocks; 1: a check fails; 2: doctor could not run.
    #[cfg(feature = "aws")]
    Doctor(Box<privatelink_operator::doctor::command::Args>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        #[cfg(feature = "aws")]
        Command::Run(settings) => privatelink_operator::operator::main(*settings),
        Command::Crds => api::print_crds(),
        Command::Plan(args) => cli_plan::command::main(args),
        #[cfg(feature = "aws")]
        Command::Doctor(args) => privatelink_operator::doctor::command::main(*args),
    }
}
