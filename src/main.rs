//! Command line of privatelink-operator: `run`, `crds`, `plan`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privatelink_operator::aws::AwsClients;
use privatelink_operator::config::{RoleAllowList, Settings};
use privatelink_operator::controller::{self, Context};
use privatelink_operator::telemetry::{self, LogFormat};
use privatelink_operator::{api, cli_plan, manifests};

#[derive(Parser)]
#[command(name = "privatelink-operator", version, about = "Kubernetes operator for AWS PrivateLink")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the kubeconfig (or in-cluster config).
    Run {
        /// Region for objects that name none; defaults to the AWS SDK's region.
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
        /// Watch only this namespace (default: all).
        #[arg(long, env = "PLO_NAMESPACE")]
        namespace: Option<String>,
        /// Seconds between resyncs that catch drift made outside the operator.
        #[arg(long, env = "PLO_RESYNC_SECONDS", default_value_t = 300)]
        resync_seconds: u64,
        /// Seconds between polls while AWS is in a transitional state.
        #[arg(long, env = "PLO_POLL_SECONDS", default_value_t = 10)]
        poll_seconds: u64,
        /// NAMESPACE=ROLE_ARN pairs (either may end in `*`): which namespaces may
        /// name which roles in spec.roleArn. Comma-separated or repeated.
        #[arg(long = "allowed-role", env = "PLO_ALLOWED_ROLES", value_delimiter = ',')]
        allowed_roles: Vec<String>,
        /// Log format.
        #[arg(long, env = "PLO_LOG_FORMAT", value_enum, default_value = "json")]
        log_format: LogFormat,
    },
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
        /// Compare with live AWS (read-only: Describe calls only) using the
        /// default credential chain, instead of an empty account.
        #[arg(long)]
        live: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { region, namespace, resync_seconds, poll_seconds, allowed_roles, log_format } => {
            telemetry::init(log_format);
            let allowed_roles = match RoleAllowList::parse(&allowed_roles) {
                Ok(list) => list,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(async move {
                let client = match kube::Client::try_default().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reach the Kubernetes API (kubeconfig or in-cluster config)");
                        return ExitCode::FAILURE;
                    }
                };
                let aws = AwsClients::from_env().await;
                let Some(region) = region.or_else(|| aws.default_region()) else {
                    tracing::error!("no AWS region: set --region or AWS_REGION");
                    return ExitCode::FAILURE;
                };
                let mut settings = Settings::new(region);
                settings.namespace = namespace;
                settings.resync = std::time::Duration::from_secs(resync_seconds);
                settings.transition_poll = std::time::Duration::from_secs(poll_seconds);
                settings.allowed_roles = allowed_roles;
                tracing::info!(region = %settings.default_region, namespace = ?settings.namespace, "starting");
                let ctx = std::sync::Arc::new(Context::new(client, aws, settings));
                tokio::join!(
                    controller::endpoint_service::run(ctx.clone()),
                    controller::interface_endpoint::run(ctx),
                );
                ExitCode::SUCCESS
            })
        }
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
        Command::Plan { paths, region, live } => {
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
            let report = if live {
                let runtime = match tokio::runtime::Runtime::new() {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("error: cannot start the async runtime: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let account = runtime.block_on(async {
                    let aws = AwsClients::from_env().await;
                    cli_plan::LiveAccount::read(&all, &aws, &region).await
                });
                match account {
                    Ok(account) => cli_plan::plan_manifests(&all, &account, &region),
                    Err(e) => {
                        eprintln!("error: cannot read live AWS state: {}", e.with_fix());
                        return ExitCode::from(2);
                    }
                }
            } else {
                cli_plan::plan_manifests(&all, &cli_plan::EmptyAccount, &region)
            };
            print!("{}", report.text);
            for invalid in &report.invalid {
                eprint!("error: {invalid}");
            }
            if report.invalid.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
    }
}
