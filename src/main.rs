//! Command line of privatelink-operator: `run`, `crds`, `plan`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privatelink_operator::{api, cli_plan, manifests};

#[derive(Parser)]
#[command(name = "privatelink-operator", version, about = "Kubernetes operator for AWS PrivateLink")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (what crds/ holds).
    Crds,
    /// Validate manifests and print the AWS changes they would cause.
    Plan {
        /// Manifest file or directory (searched for .yaml/.yml files); repeatable.
        #[arg(short = 'f', long = "filename", required = true)]
        paths: Vec<PathBuf>,
        /// Region for objects that name none.
        #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
        region: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match api::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render CRDs: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plan { paths, region } => {
            let mut all = Vec::new();
            for path in &paths {
                match manifests::read(path) {
                    Ok(m) => all.extend(m),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            let report = cli_plan::plan_manifests(&all, &cli_plan::EmptyAccount, &region);
            print!("{}", report.text);
            for invalid in &report.invalid {
                eprint!("error: {invalid}");
            }
            if report.invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}
