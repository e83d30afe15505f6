//! The `plan` command: its arguments, reading the manifests, planning them
//! and printing the plan; the exit code says whether they are valid (and,
//! with --detailed-exitcode, whether anything would change).

use std::path::PathBuf;
use std::process::ExitCode;

use super::plan_offline;
use crate::config::Output;
use crate::plan::clock::{Clock, SystemClock};

/// The arguments of `plan`.
#[derive(clap::Args)]
pub struct Args {
    /// Manifest file or directory (searched for .yaml/.yml files), or `-`
    /// for standard input (`kustomize build … | plan -f -`); repeatable.
    /// Documents of other kinds (Deployments, Namespaces…) are skipped
    /// and counted.
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<PathBuf>,
    /// Region for objects that name none.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Compare with live AWS (read-only: Describe calls only) using the
    /// default credential chain, instead of an empty account.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub live: bool,
    /// Output: `text` (default) or `json` (the same content, for tools).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Exit 0 when valid with no changes, 2 when valid with changes
    /// pending, 1 on any error (as terraform plan -detailed-exitcode).
    /// Without it: 0 valid, 1 invalid manifests, 2 unreadable input.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `privatelink-operator plan`.
pub fn main(args: Args) -> ExitCode {
    let error_code = if args.detailed_exitcode { 1 } else { 2 };
    let mut all = Vec::new();
    for path in &args.paths {
        match crate::manifests::read(path) {
            Ok(m) => all.extend(m),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(error_code);
            }
        }
    }
    let now = SystemClock.now();
    #[cfg(feature = "aws")]
    let report = if args.live {
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(async {
            let aws = crate::aws::AwsClients::from_env().await;
            super::plan_manifests(&all, &super::Live::new(&aws), &args.region, now).await
        })
    } else {
        plan_offline(&all, &args.region, now)
    };
    #[cfg(not(feature = "aws"))]
    let report = plan_offline(&all, &args.region, now);
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: cannot read live AWS state: {}", e.with_fix());
            return ExitCode::from(error_code);
        }
    };
    match args.output {
        Output::Text => print!("{}", report.text),
        Output::Json => println!("{:#}", report.to_json()),
    }
    for invalid in &report.invalid {
        eprint!("error: {invalid}");
    }
    match (report.invalid.is_empty(), args.detailed_exitcode, report.has_changes()) {
        (false, _, _) => ExitCode::from(1),
        (true, true, true) => ExitCode::from(2),
        (true, _, _) => ExitCode::SUCCESS,
    }
}
