//! The checks: pure functions from what AWS holds ([`crate::plan::facts`])
//! to findings that say what blocks a deletion or the traffic, with the
//! evidence and the fix. `doctor` prints them; the controllers turn the same
//! ones into conditions (TrafficAllowed, the zone and VPC DNS checks before
//! a create).

pub mod endpoint;
pub mod net;
pub mod policy;
pub mod security_group;
pub mod service;

use serde::Serialize;

use super::facts::AwsError;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing wrong here.
    Pass,
    /// This blocks the deletion or the traffic.
    Fail,
    /// A read was refused or a fact is unknowable from AWS's side.
    CouldNotCheck,
}

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concern {
    /// Whether the subject exists and in what state.
    Subject,
    /// Whether it can be deleted.
    Deletion,
    /// Whether traffic can flow.
    Traffic,
}

/// One check's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Stable name (`requester-managed`, `network-acls`…), for scripts.
    pub id: &'static str,
    /// What it is about.
    pub concern: Concern,
    /// What it found.
    pub verdict: Verdict,
    /// One sentence: what was found.
    pub summary: String,
    /// The facts behind it: ids, rule numbers, tag values.
    pub evidence: Vec<String>,
    /// One sentence: what to do, when something is wrong or unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(id: &'static str, concern: Concern, summary: impl Into<String>) -> Self {
        Self { id, concern, verdict: Verdict::Pass, summary: summary.into(), evidence: Vec::new(), fix: None }
    }

    /// A failing check with its fix.
    pub fn fail(id: &'static str, concern: Concern, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            concern,
            verdict: Verdict::Fail,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: Some(fix.into()),
        }
    }

    /// A check that could not be made, and how to make it.
    pub fn unknown(id: &'static str, concern: Concern, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            concern,
            verdict: Verdict::CouldNotCheck,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: Some(fix.into()),
        }
    }

    /// A check that could not be made because a read failed.
    pub fn unread(id: &'static str, concern: Concern, what: &str, err: &AwsError) -> Self {
        let fix = if err.denied() {
            format!(
                "Allow {} for the caller (charts/privatelink-operator/files/iam-policy-doctor.json lists what doctor reads); an SCP or a permissions boundary can deny it even to administrators.",
                iam_action(err.action)
            )
        } else {
            "Run doctor again; if it persists, the AWS message says what failed.".to_string()
        };
        Self::unknown(id, concern, format!("Could not read {what}."), fix).with(err.describe())
    }

    /// Add evidence.
    pub fn with(mut self, evidence: impl Into<String>) -> Self {
        self.evidence.push(evidence.into());
        self
    }

    /// Add several pieces of evidence.
    pub fn with_all(mut self, evidence: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(evidence);
        self
    }
}

/// The IAM action behind an operation name (`DescribeVpcs` → `ec2:DescribeVpcs`).
fn iam_action(operation: &str) -> String {
    let service = match operation {
        "LookupEvents" => "cloudtrail",
        "GetBucketLocation" | "GetBucketPolicy" => "s3",
        "DescribeDBProxies" | "DescribeDBClusters" => "rds",
        "DescribeLoadBalancers" => "elasticloadbalancing",
        _ => "ec2",
    };
    let action = match operation {
        "GetBucketLocation" => "GetBucketLocation".to_string(),
        "GetBucketPolicy" => "GetBucketPolicy".to_string(),
        other => other.to_string(),
    };
    format!("{service}:{action}")
}

/// A sorted, comma-separated list.
pub(crate) fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let mut v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v.dedup();
    v.join(", ")
}
