//! Operator settings, from flags or environment variables, with defaults,
//! and the tenancy rules they hold: which namespaces may act with the
//! operator's own AWS credentials, which may assume which IAM roles, and
//! which may adopt AWS resources the operator did not create.

use std::fmt;
use std::time::Duration;

/// A pattern over names made of segments: namespaces (segments separated by
/// `-`) or ARNs (separated by `:` and `/`).
///
/// `*` stands for whole segments only: alone it matches any value; as the
/// last segment it matches one or more trailing segments
/// (`team-a-*` matches `team-a-dev` and `team-a-dev-eu`, never `team-admin`;
/// `arn:aws:iam::111122223333:role/*` matches every role of that account,
/// with or without a path); elsewhere it matches exactly one segment
/// (`arn:aws:iam::*:role/privatelink` matches that role name in every
/// account). A `*` inside a segment (`team-a*`) is refused when the settings
/// are read, since it would silently match more than meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    separators: &'static [char],
}

/// Segment separators of namespace names.
pub const NAMESPACE_SEPARATORS: &[char] = &['-'];
/// Segment separators of ARNs.
pub const ARN_SEPARATORS: &[char] = &['/', ':'];

/// A value split into segments and the separators between them.
fn tokens<'a>(value: &'a str, separators: &[char]) -> (Vec<&'a str>, Vec<char>) {
    let mut segments = Vec::new();
    let mut seps = Vec::new();
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if separators.contains(&c) {
            segments.push(&value[start..i]);
            seps.push(c);
            start = i + c.len_utf8();
        }
    }
    segments.push(&value[start..]);
    (segments, seps)
}

impl Pattern {
    /// Parse a pattern; `what` names the setting for the error message.
    pub fn parse(text: &str, separators: &'static [char], what: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err(format!("{what}: empty pattern"));
        }
        let (segments, _) = tokens(text, separators);
        if let Some(bad) = segments.iter().find(|s| s.contains('*') && **s != "*") {
            let fixed = text.replacen(bad, &format!("{}{}*", bad.trim_end_matches('*'), separators[0]), 1);
            return Err(format!(
                "{what}: {text:?}: `*` must stand for whole segments (separated by {}), so that it never matches more than meant: write {fixed:?} or list the names",
                separators.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" ")
            ));
        }
        Ok(Self { text: text.to_string(), separators })
    }

    /// True when `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        if self.text == "*" {
            return !value.is_empty();
        }
        let (pattern, pattern_seps) = tokens(&self.text, self.separators);
        let (segments, seps) = tokens(value, self.separators);
        let last = pattern.len() - 1;
        if pattern[last] == "*" {
            // A trailing `*` takes one or more segments.
            if segments.len() < pattern.len() || seps[..last] != pattern_seps[..last] {
                return false;
            }
        } else if segments.len() != pattern.len() || seps != pattern_seps {
            return false;
        }
        pattern.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A set of namespaces given by patterns (see [`Pattern`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceSet {
    patterns: Vec<Pattern>,
}

impl NamespaceSet {
    /// Every namespace.
    pub fn all() -> Self {
        Self { patterns: vec![Pattern { text: "*".into(), separators: NAMESPACE_SEPARATORS }] }
    }

    /// No namespace.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parse namespace patterns; `what` names the setting for errors.
    pub fn parse(entries: &[String], what: &str) -> Result<Self, String> {
        let patterns = entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| Pattern::parse(e, NAMESPACE_SEPARATORS, what))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// True when `namespace` is in the set.
    pub fn contains(&self, namespace: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(namespace))
    }

    /// True when the set holds no namespace.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl fmt::Display for NamespaceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.patterns.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// `NAMESPACE=VALUE` entries of the setting `what`, both sides patterns
/// (the value's segments split at `separators`); `value` names the right
/// side in messages, written and spoken (`("ROLE_ARN", "ARN")`).
fn parse_pairs(
    entries: &[String],
    what: &str,
    value: (&str, &str),
    separators: &'static [char],
) -> Result<Vec<(Pattern, Pattern)>, String> {
    let mut parsed = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let Some((ns, right)) = entry.split_once('=') else {
            return Err(format!("{what}: {entry:?} is not NAMESPACE={}", value.0));
        };
        if ns.is_empty() || right.is_empty() {
            return Err(format!("{what}: {entry:?} has an empty namespace or {}", value.1));
        }
        parsed.push((Pattern::parse(ns, NAMESPACE_SEPARATORS, what)?, Pattern::parse(right, separators, what)?));
    }
    Ok(parsed)
}

/// Which namespaces may have the operator assume which IAM roles.
///
/// Written `NAMESPACE=ROLE_ARN`, both sides [`Pattern`]s
/// (`team-a=arn:aws:iam::111122223333:role/*`,
/// `*=arn:aws:iam::444455556666:role/shared`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleAllowList {
    entries: Vec<(Pattern, Pattern)>,
}

impl RoleAllowList {
    /// Parse entries of the form `NAMESPACE=ROLE_ARN`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let entries = parse_pairs(entries, "--allowed-role", ("ROLE_ARN", "ARN"), ARN_SEPARATORS)?;
        Ok(Self { entries })
    }

    /// True when objects in `namespace` may use `role_arn`.
    pub fn allows(&self, namespace: &str, role_arn: &str) -> bool {
        self.entries.iter().any(|(ns, arn)| ns.matches(namespace) && arn.matches(role_arn))
    }
}

/// Which namespaces may place interface endpoints in which VPCs.
///
/// Written `NAMESPACE=VPC_ID`, both sides [`Pattern`]s of `-`-separated
/// segments (`team-a-*=vpc-0a1b2c3d4e5f60718`, `platform=*`). Empty: no
/// limit (single-tenant). Set: every InterfaceEndpoint's VPC must be
/// granted to its namespace, whatever identity it acts with — the
/// operator's own credentials and a role several namespaces share reach
/// every VPC of their account, and an endpoint with private DNS takes over
/// that VPC's resolution of the service's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpcAllowList {
    entries: Vec<(Pattern, Pattern)>,
}

impl VpcAllowList {
    /// Parse entries of the form `NAMESPACE=VPC_ID`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let entries = parse_pairs(entries, "--allowed-vpcs", ("VPC_ID", "VPC"), NAMESPACE_SEPARATORS)?;
        Ok(Self { entries })
    }

    /// True when objects in `namespace` may use `vpc_id` (always, when the
    /// list is empty).
    pub fn allows(&self, namespace: &str, vpc_id: &str) -> bool {
        self.entries.is_empty() || self.entries.iter().any(|(ns, vpc)| ns.matches(namespace) && vpc.matches(vpc_id))
    }
}

/// Who may do what: the tenancy rules of a shared cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// Namespaces whose objects may act with the operator's own credentials
    /// (no `spec.roleArn`). Default: all (single-tenant mode).
    pub operator_credentials: NamespaceSet,
    /// Roles each namespace may assume (`spec.roleArn`). Default: none.
    pub allowed_roles: RoleAllowList,
    /// Namespaces whose objects may adopt existing AWS resources
    /// (`spec.serviceId`, `spec.vpcEndpointId`). Default: none.
    pub adopters: NamespaceSet,
    /// VPCs each namespace may place interface endpoints in. Default: no
    /// limit.
    pub allowed_vpcs: VpcAllowList,
}

impl Tenancy {
    /// The rules from their lists, as the flags (or the ConfigMap keys)
    /// give them.
    pub fn parse(
        operator_credentials: &[String],
        allowed_roles: &[String],
        adopters: &[String],
        allowed_vpcs: &[String],
    ) -> Result<Self, String> {
        Ok(Self {
            operator_credentials: NamespaceSet::parse(operator_credentials, "--operator-credentials-namespaces")?,
            allowed_roles: RoleAllowList::parse(allowed_roles)?,
            adopters: NamespaceSet::parse(adopters, "--adopt-namespaces")?,
            allowed_vpcs: VpcAllowList::parse(allowed_vpcs)?,
        })
    }

    /// The rules of a tenancy ConfigMap's data: keys
    /// `operatorCredentialsNamespaces`, `allowedRoles`, `adoptNamespaces`,
    /// `allowedVpcs`, each a list separated by commas or new lines. A key
    /// left out means what the flag's default means (`*` for the first,
    /// none for the others); an unknown key is refused, so a typo never
    /// silently loosens nothing it meant to tighten.
    pub fn from_config_map(data: &std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        const KEYS: [&str; 4] = ["operatorCredentialsNamespaces", "allowedRoles", "adoptNamespaces", "allowedVpcs"];
        if let Some(unknown) = data.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key {unknown:?} (known: {})", KEYS.join(", ")));
        }
        let list = |key: &str, default: &[&str]| -> Vec<String> {
            match data.get(key) {
                Some(text) => {
                    text.split([',', '\n']).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
                }
                None => default.iter().map(|v| v.to_string()).collect(),
            }
        };
        Self::parse(
            &list("operatorCredentialsNamespaces", &["*"]),
            &list("allowedRoles", &[]),
            &list("adoptNamespaces", &[]),
            &list("allowedVpcs", &[]),
        )
    }
}

impl Default for Tenancy {
    fn default() -> Self {
        Self {
            operator_credentials: NamespaceSet::all(),
            allowed_roles: RoleAllowList::default(),
            adopters: NamespaceSet::none(),
            allowed_vpcs: VpcAllowList::default(),
        }
    }
}

/// How `plan` and `doctor` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For tools: the same content as JSON.
    Json,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// Seconds, as a flag gives them (at least 1).
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Duration::from_secs(n)),
        _ => Err(format!("{text:?} is not a whole number of seconds, at least 1")),
    }
}

/// The settings of `privatelink-operator run`: every flag, its environment
/// variable (what the chart's values set) and its default, declared once
/// here. What is known only once the operator runs — the region of the
/// AWS SDK, the cluster id of kube-system, the tenancy rules of the
/// ConfigMap — is filled in at start.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Region for objects that name none; defaults to the AWS SDK's region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Watch only these namespaces (comma-separated or repeated; default: all).
    #[arg(long = "namespace", env = "PLO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Reconcile only objects whose labels match this selector (e.g.
    /// `privatelink.dev/shard=a`), to split objects between deployments.
    #[arg(long, env = "PLO_LABEL_SELECTOR")]
    pub label_selector: Option<String>,
    /// Seconds between resyncs that catch drift made outside the operator (at least 1).
    #[arg(long = "resync-seconds", env = "PLO_RESYNC_SECONDS", value_name = "SECONDS", default_value = "300", value_parser = seconds)]
    pub resync: Duration,
    /// First poll interval, in seconds, while AWS is in a transitional
    /// state (Pending, pendingAcceptance…); it doubles per poll up to the
    /// resync (at least 1).
    #[arg(long = "poll-seconds", env = "PLO_POLL_SECONDS", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub transition_poll: Duration,
    /// First retry delay after a failed reconcile; doubles up to `max_backoff`.
    #[arg(skip = Duration::from_secs(5))]
    pub base_backoff: Duration,
    /// Longest retry delay after failures.
    #[arg(skip = Duration::from_secs(300))]
    pub max_backoff: Duration,
    /// Objects of one kind reconciled at the same time (at least 1).
    #[arg(long, env = "PLO_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
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
    pub operator_credentials_namespaces: Vec<String>,
    /// NAMESPACE=ROLE_ARN pairs: which namespaces may name which roles in
    /// spec.roleArn. Both sides are patterns of whole segments
    /// (`team-a=arn:aws:iam::111122223333:role/*`). Comma-separated or repeated.
    #[arg(long = "allowed-role", env = "PLO_ALLOWED_ROLES", value_delimiter = ',')]
    pub allowed_roles: Vec<String>,
    /// Namespaces whose objects may adopt existing AWS resources
    /// (spec.serviceId, spec.vpcEndpointId). Patterns as above. Default: none.
    #[arg(long = "adopt-namespaces", env = "PLO_ADOPT_NAMESPACES", value_delimiter = ',')]
    pub adopt_namespaces: Vec<String>,
    /// NAMESPACE=VPC_ID pairs: which VPCs each namespace may place
    /// InterfaceEndpoints in (`team-a-*=vpc-0a1b2c3d4e5f60718`; patterns
    /// as above). Unset: no limit. Set: a namespace without an entry may
    /// place none. Comma-separated or repeated.
    #[arg(long = "allowed-vpcs", env = "PLO_ALLOWED_VPCS", value_delimiter = ',')]
    pub allowed_vpcs: Vec<String>,
    /// NAMESPACE/NAME of a ConfigMap holding the tenancy rules (keys
    /// operatorCredentialsNamespaces, allowedRoles, adoptNamespaces,
    /// allowedVpcs): they replace the four tenancy flags, and a change to
    /// the ConfigMap applies without a restart. Every deployment (shard) of
    /// a cluster should name the same one, so a label never moves an object
    /// to looser rules.
    #[arg(long, env = "PLO_TENANCY_CONFIGMAP")]
    pub tenancy_configmap: Option<String>,
    /// The tenancy rules in force at start: the four flags', or the
    /// tenancy ConfigMap's ([`Settings::with_tenancy_flags`]).
    #[arg(skip)]
    pub tenancy: Tenancy,
    /// This cluster's id, written into the ownership tags of everything the
    /// operator creates: two clusters sharing an AWS account never take
    /// each other's resources, and a cluster rebuilt from Git finds its own
    /// by (cluster, namespace, name). Default: the UID of the kube-system
    /// namespace (needs `get` on it); set it to keep the id when the cluster
    /// is rebuilt.
    #[arg(long, env = "PLO_CLUSTER_ID")]
    pub cluster_id: Option<String>,
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
    pub session_role: Option<String>,
    /// Address of the HTTP endpoints: /healthz, /readyz, /metrics.
    #[arg(long, env = "PLO_HTTP_ADDRESS", default_value = "0.0.0.0:8080")]
    pub http_address: std::net::SocketAddr,
    /// Elect a leader among replicas on a Lease: only the leader reconciles.
    #[arg(long, env = "PLO_LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "PLO_LEADER_ELECTION_LEASE", default_value = "privatelink-operator")]
    pub leader_election_lease: String,
    /// Namespace of the leader election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,
    /// This instance's identity in the election (the pod's name).
    #[arg(long, env = "POD_NAME")]
    pub leader_election_identity: Option<String>,
    /// Seconds a lease stays valid without renewal: the longest a standby
    /// waits after a leader stops.
    #[arg(long, env = "PLO_LEADER_ELECTION_LEASE_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..))]
    pub leader_election_lease_seconds: u64,
    /// Log format.
    #[arg(long, env = "PLO_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Scale of the operator's own token buckets, which follow AWS's
    /// documented EC2 (and ELB) rates per account, region and action class
    /// at 95 % of AWS's refill: 1 paces CreateVpcEndpoint, ModifyVpcEndpoint
    /// and DeleteVpcEndpoints together at 0.285 calls/s after a burst of 4,
    /// EC2 reads at 19/s. Below 1 leaves more of the account's budget to
    /// other tools (0.5: half); 0 turns them off (AWS's throttling and the
    /// SDK's retries remain). Calls wait for their turn before the SDK
    /// sends them, so no SDK timeout measures the wait.
    #[arg(long, env = "PLO_AWS_RATE_SCALE", default_value_t = 1.0)]
    pub aws_rate_scale: f64,
    /// Read AWS with one Describe per object, as peer tools do, instead of
    /// one paginated Describe per kind, account and region (for comparison).
    #[arg(long, env = "PLO_PER_OBJECT_READS", default_value_t = false)]
    pub per_object_reads: bool,
}

impl Settings {
    /// The defaults of every flag (as `run` with none and no environment
    /// has them), in `region`: for tests and tools.
    pub fn new(region: impl Into<String>) -> Self {
        use clap::{Args, FromArgMatches};
        let command = Self::augment_args(clap::Command::new("defaults")).mut_args(|a| a.env(None));
        let mut settings = command
            .try_get_matches_from(["defaults"])
            .ok()
            .and_then(|m| Self::from_arg_matches(&m).ok())
            .expect("the flags' defaults parse");
        settings.region = Some(region.into());
        settings
    }

    /// These settings with the tenancy rules of their four tenancy flags.
    pub fn with_tenancy_flags(mut self) -> Result<Self, String> {
        self.tenancy = Tenancy::parse(
            &self.operator_credentials_namespaces,
            &self.allowed_roles,
            &self.adopt_namespaces,
            &self.allowed_vpcs,
        )?;
        Ok(self)
    }

    /// The region for objects that name none ("" until known).
    pub fn default_region(&self) -> &str {
        self.region.as_deref().unwrap_or_default()
    }

    /// The cluster id of the ownership tags ("": none).
    pub fn cluster_id(&self) -> &str {
        self.cluster_id.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(p: &str) -> Pattern {
        Pattern::parse(p, NAMESPACE_SEPARATORS, "test").unwrap()
    }

    fn arn(p: &str) -> Pattern {
        Pattern::parse(p, ARN_SEPARATORS, "test").unwrap()
    }

    #[test]
    fn tenancy_from_a_config_map() {
        use std::collections::BTreeMap;
        let data = BTreeMap::from([
            ("operatorCredentialsNamespaces".to_string(), "platform-*".to_string()),
            ("allowedRoles".to_string(), "team-a-*=arn:aws:iam::111122223333:role/*\n".to_string()),
            ("adoptNamespaces".to_string(), "platform-*, team-a-prod".to_string()),
        ]);
        let t = Tenancy::from_config_map(&data).expect("tenancy");
        assert!(t.operator_credentials.contains("platform-eu") && !t.operator_credentials.contains("team-a"));
        assert!(t.allowed_roles.allows("team-a-dev", "arn:aws:iam::111122223333:role/x"));
        assert!(t.adopters.contains("team-a-prod") && !t.adopters.contains("team-a-dev"));
        assert!(t.allowed_vpcs.allows("team-b", "vpc-0123456789abcdef0"), "left out: no limit");
        let defaults = Tenancy::from_config_map(&BTreeMap::new()).expect("empty");
        assert_eq!(defaults, Tenancy::default());
        let typo = BTreeMap::from([("adoptNamespace".to_string(), "*".to_string())]);
        assert!(Tenancy::from_config_map(&typo).unwrap_err().contains("adoptNamespace"));
        let bad = BTreeMap::from([("allowedRoles".to_string(), "team-a".to_string())]);
        assert!(Tenancy::from_config_map(&bad).is_err());
    }

    #[test]
    fn vpc_allow_list_limits_namespaces_once_set() {
        let none = VpcAllowList::parse(&[]).expect("empty");
        assert!(none.allows("team-a", "vpc-0123456789abcdef0"), "unset: no limit");
        let list = VpcAllowList::parse(&["team-a-*=vpc-0aaaaaaaaaaaaaaaa".to_string(), "platform=*".to_string()])
            .expect("list");
        assert!(list.allows("team-a-dev", "vpc-0aaaaaaaaaaaaaaaa"));
        assert!(!list.allows("team-a-dev", "vpc-0bbbbbbbbbbbbbbbb"), "another VPC");
        assert!(!list.allows("team-admin", "vpc-0aaaaaaaaaaaaaaaa"), "not team-a");
        assert!(!list.allows("team-b", "vpc-0aaaaaaaaaaaaaaaa"), "no entry: none");
        assert!(list.allows("platform", "vpc-0bbbbbbbbbbbbbbbb"));
        assert!(VpcAllowList::parse(&["team-a".to_string()]).is_err());
        assert!(VpcAllowList::parse(&["team-a=vpc-0a*".to_string()]).is_err(), "whole segments only");
    }

    #[test]
    fn namespace_patterns_match_whole_segments() {
        assert!(ns("team-a").matches("team-a"));
        assert!(!ns("team-a").matches("team-admin"));
        assert!(ns("team-a-*").matches("team-a-dev"));
        assert!(ns("team-a-*").matches("team-a-dev-eu"));
        assert!(!ns("team-a-*").matches("team-a"));
        assert!(!ns("team-a-*").matches("team-admin"));
        assert!(ns("team-*").matches("team-admin"), "meant: every team-… namespace");
        assert!(ns("*").matches("anything"));
        assert!(ns("*-prod").matches("payments-prod"));
        assert!(!ns("*-prod").matches("payments-eu-prod"), "an inner * is exactly one segment");
    }

    #[test]
    fn star_inside_a_segment_is_refused_with_the_fix() {
        let err = Pattern::parse("team-a*", NAMESPACE_SEPARATORS, "--adopt-namespaces").unwrap_err();
        assert!(err.contains("whole segments") && err.contains("\"team-a-*\""), "{err}");
        let err = Pattern::parse("arn:aws:iam::111122223333:role/team*", ARN_SEPARATORS, "x").unwrap_err();
        assert!(err.contains("role/team/*"), "{err}");
        assert!(Pattern::parse("", NAMESPACE_SEPARATORS, "x").is_err());
    }

    #[test]
    fn arn_patterns_match_whole_segments() {
        let any_role = arn("arn:aws:iam::111122223333:role/*");
        assert!(any_role.matches("arn:aws:iam::111122223333:role/provider"));
        assert!(any_role.matches("arn:aws:iam::111122223333:role/path/provider"));
        assert!(!any_role.matches("arn:aws:iam::111122223334:role/provider"));
        assert!(!any_role.matches("arn:aws:iam::111122223333:user/provider"));
        let exact = arn("arn:aws:iam::444455556666:role/shared");
        assert!(!exact.matches("arn:aws:iam::444455556666:role/shared-admin"));
        let every_account = arn("arn:aws:iam::*:role/privatelink");
        assert!(every_account.matches("arn:aws:iam::444455556666:role/privatelink"));
        assert!(!every_account.matches("arn:aws:iam::444455556666:role/other"));
    }

    #[test]
    fn role_allow_list_matches_namespace_and_arn() {
        let list = RoleAllowList::parse(&[
            "team-a=arn:aws:iam::111122223333:role/*".to_string(),
            "*=arn:aws:iam::444455556666:role/shared".to_string(),
        ])
        .unwrap();
        assert!(list.allows("team-a", "arn:aws:iam::111122223333:role/provider"));
        assert!(!list.allows("team-admin", "arn:aws:iam::111122223333:role/provider"));
        assert!(!list.allows("team-b", "arn:aws:iam::111122223333:role/provider"));
        assert!(list.allows("team-b", "arn:aws:iam::444455556666:role/shared"));
        assert!(!list.allows("team-b", "arn:aws:iam::444455556666:role/shared-admin"));
        assert!(RoleAllowList::parse(&["no-equals".to_string()]).is_err());
        assert!(RoleAllowList::parse(&["team-a*=arn:aws:iam::111122223333:role/x".to_string()]).is_err());
        assert!(!RoleAllowList::default().allows("any", "arn:aws:iam::111122223333:role/x"));
    }

    #[test]
    fn the_defaults_are_the_flags_defaults_without_the_environment() {
        let s = Settings::new("eu-west-1").with_tenancy_flags().expect("tenancy");
        assert_eq!(s.default_region(), "eu-west-1");
        assert_eq!((s.resync, s.transition_poll), (Duration::from_secs(300), Duration::from_secs(10)));
        assert_eq!((s.base_backoff, s.max_backoff), (Duration::from_secs(5), Duration::from_secs(300)));
        assert_eq!((s.concurrency, s.leader_election_lease_seconds, s.aws_rate_scale), (8, 15, 1.0));
        assert_eq!(s.tenancy, Tenancy::default());
        assert!(s.namespaces.is_empty() && s.cluster_id().is_empty() && !s.leader_elect);
    }

    #[test]
    fn tenancy_defaults_are_single_tenant_without_adoption() {
        let t = Tenancy::default();
        assert!(t.operator_credentials.contains("any-namespace"));
        assert!(!t.adopters.contains("any-namespace"));
        let set = NamespaceSet::parse(&["team-a".into(), " platform-* ".into(), "".into()], "x").unwrap();
        assert!(set.contains("team-a") && set.contains("platform-ops") && !set.contains("team-b"));
        assert_eq!(set.to_string(), "team-a,platform-*");
    }
}
