//! The `doctor` command: its arguments, and reading, checking and printing
//! one subject.

use std::process::ExitCode;

use super::Subject;
use crate::aws::facts as read;
use crate::aws::{AwsClients, Identity};
use crate::config::Output;

/// The arguments of `doctor`.
#[derive(clap::Args)]
pub struct Args {
    /// What to examine: one of the operator's objects as KIND/NAME
    /// (`interfaceendpoint/payments-api`, `epsvc/api`; its recorded AWS id,
    /// region and role are used), an endpoint (vpce-…), an endpoint
    /// service (vpce-svc-…) or a security group (sg-…).
    pub subject: String,
    /// Namespace of a KIND/NAME subject; default: the kubeconfig's.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Region of the subject; defaults to the AWS SDK's region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Role to assume for the reads (the subject's account).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// External ID for --role-arn.
    #[arg(long, requires = "role_arn")]
    pub external_id: Option<String>,
    /// The client side of the traffic: an instance (i-…), a security group
    /// (sg-…), a subnet (subnet-…) or a CIDR.
    #[arg(long)]
    pub source: Option<String>,
    /// Port the clients use (repeatable; default 443 for AWS services).
    #[arg(long = "port")]
    pub ports: Vec<u16>,
    /// The S3 bucket the traffic through a gateway endpoint is for: its
    /// region and bucket policy are checked.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Ask AWS whether you may delete the subject (a DryRun delete: AWS
    /// checks the permission and changes nothing).
    #[arg(long)]
    pub check_permissions: bool,
    /// DNS server (IP:PORT) for following a database's CNAMEs to a
    /// requester-managed endpoint; default: the system's resolver (in the
    /// VPC, or through a Route 53 Resolver inbound endpoint).
    #[arg(long)]
    pub nameserver: Option<std::net::SocketAddr>,
    /// Output: `text` (default) or `json` (the same content, for scripts).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

/// `privatelink-operator doctor`: read, check, print; the exit code says
/// whether something blocks.
pub fn main(args: Args) -> ExitCode {
    let object = super::object::parse(&args.subject);
    let subject = match &object {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Some(Ok(_)) => None,
        None => match Subject::parse(&args.subject) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}; or name an object as KIND/NAME -n NAMESPACE");
                return ExitCode::from(2);
            }
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(async {
        // An object: read it, and take the id, region and role it recorded
        // (flags still win).
        let (subject, recorded_region, recorded_role, recorded_external_id) = match (subject, object) {
            (Some(subject), _) => (subject, None, None, None),
            (None, Some(Ok((kind, name)))) => {
                let client = kube::Client::try_default()
                    .await
                    .map_err(|e| format!("cannot reach the Kubernetes API for {}: {e}", args.subject))?;
                let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
                let target = super::object::resolve(&client, kind, &name, &namespace).await?;
                (target.subject, target.region, target.role_arn, target.external_id)
            }
            (None, _) => return Err("nothing to examine".to_string()),
        };
        let aws = AwsClients::from_env().await;
        let Some(region) = args.region.clone().or(recorded_region).or_else(|| aws.default_region()) else {
            return Err("no region: pass --region or set AWS_REGION".to_string());
        };
        let identity = match args.role_arn.clone().or(recorded_role) {
            Some(role) => Identity::role(role, args.external_id.clone().or(recorded_external_id)),
            None => Identity::operator(),
        };
        let clients = read::Clients::of(aws.for_region(&identity, &region).await.as_ref());
        let options = read::Options {
            source: args.source.clone(),
            ports: args.ports.clone(),
            bucket: args.bucket.clone(),
            check_permissions: args.check_permissions,
            nameserver: args.nameserver,
        };
        Ok::<super::Report, String>(super::report(&clients, &subject, &options).await)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        Output::Text => print!("{}", report.text()),
        Output::Json => println!("{:#}", report.json()),
    }
    if report.blocked() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
