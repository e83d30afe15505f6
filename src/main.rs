//! Command line of privatelink-operator: `run`, `crds`, `plan`, `doctor`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
#[cfg(feature = "aws")]
use privatelink_operator::aws::AwsClients;
#[cfg(feature = "aws")]
use privatelink_operator::config::Tenancy;
#[cfg(feature = "aws")]
use privatelink_operator::leader::Election;
#[cfg(feature = "aws")]
use privatelink_operator::operator;
#[cfg(feature = "aws")]
use privatelink_operator::telemetry::{self, LogFormat};
use privatelink_operator::{api, cli_plan, manifests};

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

/// Settings of `run`.
#[cfg(feature = "aws")]
#[derive(clap::Args)]
struct RunArgs {
    /// Region for objects that name none; defaults to the AWS SDK's region.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Watch only these namespaces (comma-separated or repeated; default: all).
    #[arg(long = "namespace", env = "PLO_NAMESPACES", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Reconcile only objects whose labels match this selector (e.g.
    /// `privatelink.dev/shard=a`), to split objects between deployments.
    #[arg(long, env = "PLO_LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Seconds between resyncs that catch drift made outside the operator (at least 1).
    #[arg(long, env = "PLO_RESYNC_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    resync_seconds: u64,
    /// First poll interval, in seconds, while AWS is in a transitional
    /// state; it doubles per poll up to the resync (at least 1).
    #[arg(long, env = "PLO_POLL_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    poll_seconds: u64,
    /// Objects of one kind reconciled at the same time (at least 1).
    #[arg(long, env = "PLO_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Namespaces whose objects may act with the operator's own AWS
    /// credentials (no spec.roleArn). Patterns match whole `-`-separated
    /// segments (`team-a-*`); `*` is every namespace (single-tenant).
    /// Comma-separated or repeated; empty: none.
    #[arg(
        long = "operator-credentials-namespaces",
        env = "PLO_OPERATOR_CREDENTIALS_NAMESPACES",
        value_delimiter = ',',
        default_value = "*"
    )]
    operator_credentials_namespaces: Vec<String>,
    /// NAMESPACE=ROLE_ARN pairs: which namespaces may name which roles in
    /// spec.roleArn. Both sides are patterns of whole segments
    /// (`team-a=arn:aws:iam::111122223333:role/*`). Comma-separated or repeated.
    #[arg(long = "allowed-role", env = "PLO_ALLOWED_ROLES", value_delimiter = ',')]
    allowed_roles: Vec<String>,
    /// Namespaces whose objects may adopt existing AWS resources
    /// (spec.serviceId, spec.vpcEndpointId). Patterns as above. Default: none.
    #[arg(long = "adopt-namespaces", env = "PLO_ADOPT_NAMESPACES", value_delimiter = ',')]
    adopt_namespaces: Vec<String>,
    /// NAMESPACE/NAME of a ConfigMap holding the tenancy rules (keys
    /// operatorCredentialsNamespaces, allowedRoles, adoptNamespaces,
    /// allowedVpcs): they replace the four tenancy flags, and a change to
    /// the ConfigMap applies without a restart. Every deployment (shard) of
    /// a cluster should name the same one, so a label never moves an object
    /// to looser rules.
    #[arg(long, env = "PLO_TENANCY_CONFIGMAP")]
    tenancy_configmap: Option<String>,
    /// This cluster's id, written into the ownership tags of everything the
    /// operator creates: two clusters sharing an AWS account never take
    /// each other's resources, and a cluster rebuilt from Git finds its own
    /// by (cluster, namespace, name). Default: the UID of the kube-system
    /// namespace (needs `get` on it); set it to keep the id when the cluster
    /// is rebuilt.
    #[arg(long, env = "PLO_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// The operator's own IAM role, assumed once per namespace with session
    /// tags naming the namespace and cluster (`privatelink.dev/namespace`,
    /// `privatelink.dev/cluster`): objects that use the operator's
    /// credentials act through it, and tenant roles (`--allowed-role`) are
    /// assumed with the same tags. The shipped IAM policy lets a session
    /// create, change and delete only resources tagged with its own
    /// namespace and cluster, so IAM holds each namespace to its own
    /// resources even if the operator's code were wrong. The role must trust
    /// itself for sts:AssumeRole and sts:TagSession. Unset: untagged
    /// sessions (the shipped policy then refuses every change).
    #[arg(long, env = "PLO_SESSION_ROLE")]
    session_role: Option<String>,
    /// NAMESPACE=VPC_ID pairs: which VPCs each namespace may place
    /// InterfaceEndpoints in (`team-a-*=vpc-0a1b2c3d4e5f60718`; patterns
    /// as above). Unset: no limit. Set: a namespace without an entry may
    /// place none. Comma-separated or repeated.
    #[arg(long = "allowed-vpcs", env = "PLO_ALLOWED_VPCS", value_delimiter = ',')]
    allowed_vpcs: Vec<String>,
    /// Address of the HTTP endpoints: /healthz, /readyz, /metrics.
    #[arg(long, env = "PLO_HTTP_ADDRESS", default_value = "0.0.0.0:8080")]
    http_address: std::net::SocketAddr,
    /// Elect a leader among replicas on a Lease: only the leader reconciles.
    #[arg(long, env = "PLO_LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "PLO_LEADER_ELECTION_LEASE", default_value = "privatelink-operator")]
    leader_election_lease: String,
    /// Namespace of the leader election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// This instance's identity in the election (the pod's name).
    #[arg(long, env = "POD_NAME")]
    leader_election_identity: Option<String>,
    /// Seconds a lease stays valid without renewal: the longest a standby
    /// waits after a leader stops.
    #[arg(long, env = "PLO_LEADER_ELECTION_LEASE_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..))]
    leader_election_lease_seconds: u64,
    /// Log format.
    #[arg(long, env = "PLO_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
    /// Scale of the operator's own token buckets, which follow AWS's
    /// documented EC2 (and ELB) rates per account, region and action class
    /// at 95 % of AWS's refill: 1 paces CreateVpcEndpoint, ModifyVpcEndpoint
    /// and DeleteVpcEndpoints together at 0.285 calls/s after a burst of 4,
    /// EC2 reads at 19/s. Below 1 leaves more of the account's budget to
    /// other tools (0.5: half); 0 turns them off (AWS's throttling and the
    /// SDK's retries remain). Calls wait for their turn before the SDK
    /// sends them, so no SDK timeout measures the wait.
    #[arg(long, env = "PLO_AWS_RATE_SCALE", default_value_t = 1.0)]
    aws_rate_scale: f64,
    /// Read AWS with one Describe per object, as peer tools do, instead of
    /// one paginated Describe per kind, account and region (for comparison).
    #[arg(long, env = "PLO_PER_OBJECT_READS", default_value_t = false)]
    per_object_reads: bool,
}

/// How `plan` and `doctor` print.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PlanOutput {
    /// For people.
    Text,
    /// For tools: the same content as JSON.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the kubeconfig (or in-cluster config).
    #[cfg(feature = "aws")]
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions (what crds/ holds).
    Crds,
    /// Validate manifests and print the AWS changes they would cause.
    Plan {
        /// Manifest file or directory (searched for .yaml/.yml files), or `-`
        /// for standard input (`kustomize build … | plan -f -`); repeatable.
        /// Documents of other kinds (Deployments, Namespaces…) are skipped
        /// and counted.
        #[arg(short = 'f', long = "filename", required = true)]
        paths: Vec<PathBuf>,
        /// Region for objects that name none.
        #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
        region: String,
        /// Compare with live AWS (read-only: Describe calls only) using the
        /// default credential chain, instead of an empty account.
        #[cfg(feature = "aws")]
        #[arg(long)]
        live: bool,
        /// Output: `text` (default) or `json` (the same content, for tools).
        #[arg(long, short = 'o', value_enum, default_value = "text")]
        output: PlanOutput,
        /// Exit 0 when valid with no changes, 2 when valid with changes
        /// pending, 1 on any error (as terraform plan -detailed-exitcode).
        /// Without it: 0 valid, 1 invalid manifests, 2 unreadable input.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Explain from live AWS why an endpoint, endpoint service or security
    /// group cannot be deleted or carries no traffic. Read-only: Describe,
    /// Get and Lookup calls (and, with --check-permissions, a DryRun).
    /// Exit 0: nothing blocks; 1: a check fails; 2: doctor could not run.
    #[cfg(feature = "aws")]
    Doctor(Box<DoctorArgs>),
}

/// Settings of `doctor`.
#[cfg(feature = "aws")]
#[derive(clap::Args)]
struct DoctorArgs {
    /// What to examine: one of the operator's objects as KIND/NAME
    /// (`interfaceendpoint/payments-api`, `epsvc/api`; its recorded AWS id,
    /// region and role are used), an endpoint (vpce-…), an endpoint
    /// service (vpce-svc-…) or a security group (sg-…).
    subject: String,
    /// Namespace of a KIND/NAME subject; default: the kubeconfig's.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Region of the subject; defaults to the AWS SDK's region.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Role to assume for the reads (the subject's account).
    #[arg(long)]
    role_arn: Option<String>,
    /// External ID for --role-arn.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    /// The client side of the traffic: an instance (i-…), a security group
    /// (sg-…), a subnet (subnet-…) or a CIDR.
    #[arg(long)]
    source: Option<String>,
    /// Port the clients use (repeatable; default 443 for AWS services).
    #[arg(long = "port")]
    ports: Vec<u16>,
    /// The S3 bucket the traffic through a gateway endpoint is for: its
    /// region and bucket policy are checked.
    #[arg(long)]
    bucket: Option<String>,
    /// Ask AWS whether you may delete the subject (a DryRun delete: AWS
    /// checks the permission and changes nothing).
    #[arg(long)]
    check_permissions: bool,
    /// DNS server (IP:PORT) for following a database's CNAMEs to a
    /// requester-managed endpoint; default: the system's resolver (in the
    /// VPC, or through a Route 53 Resolver inbound endpoint).
    #[arg(long)]
    nameserver: Option<std::net::SocketAddr>,
    /// Output: `text` (default) or `json` (the same content, for scripts).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: PlanOutput,
}

/// `privatelink-operator doctor`.
#[cfg(feature = "aws")]
fn doctor(args: DoctorArgs) -> ExitCode {
    use privatelink_operator::aws::Identity;
    use privatelink_operator::aws::facts as read;
    use privatelink_operator::doctor::{self, Subject};
    let object = doctor::object::parse(&args.subject);
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
                let target = doctor::object::resolve(&client, kind, &name, &namespace).await?;
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
        Ok::<doctor::Report, String>(doctor::report(&clients, &subject, &options).await)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        PlanOutput::Text => print!("{}", report.text()),
        PlanOutput::Json => println!("{:#}", report.json()),
    }
    if report.blocked() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// The tenancy settings from their flags.
#[cfg(feature = "aws")]
fn tenancy(args: &RunArgs) -> Result<Tenancy, String> {
    Tenancy::parse(
        &args.operator_credentials_namespaces,
        &args.allowed_roles,
        &args.adopt_namespaces,
        &args.allowed_vpcs,
    )
}

/// `privatelink-operator run`.
/// glibc gives each thread that allocates its own heap and returns memory
/// to the system only from the top of each: with the controllers' many
/// small allocations freed on other threads, that kept a third of the
/// operator's resident memory at 10,000 objects. One heap, with large
/// temporary buffers (AWS responses of 1000 resources) in their own
/// mappings, keeps resident memory near what is in use. (musl, the
/// image's libc, has neither behaviour.)
#[cfg(all(feature = "aws", target_os = "linux", target_env = "gnu"))]
fn compact_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called once, before
    // any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

#[cfg(all(feature = "aws", not(all(target_os = "linux", target_env = "gnu"))))]
fn compact_allocator() {}

#[cfg(feature = "aws")]
fn run(args: RunArgs) -> ExitCode {
    compact_allocator();
    telemetry::init(args.log_format);
    let tenancy = match tenancy(&args) {
        Ok(t) => t,
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
    let options = operator::Options {
        region: args.region,
        namespaces: args.namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
        label_selector: args.label_selector.filter(|l| !l.is_empty()),
        resync: std::time::Duration::from_secs(args.resync_seconds),
        poll: std::time::Duration::from_secs(args.poll_seconds),
        concurrency: args.concurrency,
        tenancy,
        http_address: args.http_address,
        election: args.leader_elect.then(|| Election {
            lease_name: args.leader_election_lease,
            namespace: args.leader_election_namespace,
            identity: args
                .leader_election_identity
                .unwrap_or_else(|| format!("privatelink-operator-{}", std::process::id())),
            duration: std::time::Duration::from_secs(args.leader_election_lease_seconds),
            grace: std::time::Duration::from_secs((args.leader_election_lease_seconds / 3).max(1)),
        }),
        aws_rate_scale: args.aws_rate_scale.max(0.0),
        per_object_reads: args.per_object_reads,
        cluster_id: args.cluster_id.filter(|c| !c.trim().is_empty()),
        session_role: args.session_role.filter(|r| !r.trim().is_empty()),
        tenancy_configmap: args.tenancy_configmap.filter(|c| !c.trim().is_empty()),
    };
    match runtime.block_on(operator::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        #[cfg(feature = "aws")]
        Command::Run(args) => run(*args),
        #[cfg(feature = "aws")]
        Command::Doctor(args) => doctor(*args),
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
        Command::Plan {
            paths,
            region,
            #[cfg(feature = "aws")]
            live,
            output,
            detailed_exitcode,
        } => {
            let error_code = if detailed_exitcode { 1 } else { 2 };
            let mut all = Vec::new();
            for path in &paths {
                match manifests::read(path) {
                    Ok(m) => all.extend(m),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(error_code);
                    }
                }
            }
            #[cfg(feature = "aws")]
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
                        return ExitCode::from(error_code);
                    }
                }
            } else {
                cli_plan::plan_manifests(&all, &cli_plan::EmptyAccount, &region)
            };
            #[cfg(not(feature = "aws"))]
            let report = cli_plan::plan_manifests(&all, &cli_plan::EmptyAccount, &region);
            match output {
                PlanOutput::Text => print!("{}", report.text),
                PlanOutput::Json => println!("{:#}", report.to_json()),
            }
            for invalid in &report.invalid {
                eprint!("error: {invalid}");
            }
            match (report.invalid.is_empty(), detailed_exitcode, report.has_changes()) {
                (false, _, _) => ExitCode::from(1),
                (true, true, true) => ExitCode::from(2),
                (true, _, _) => ExitCode::SUCCESS,
            }
        }
    }
}
