//! `privatelink-operator doctor`: why an endpoint, an endpoint service or a
//! security group cannot be deleted, or carries no traffic — the failures
//! AWS's troubleshooting guides walk through, answered from live AWS.
//!
//! Reading ([`read`]) is separate from judging: the checks ([`endpoint`],
//! [`service`], [`security_group`]) are pure functions of [`facts`], and
//! the controllers use the same ones for their conditions.

#[cfg(feature = "aws")]
pub mod dns;
pub mod endpoint;
pub mod facts;
pub mod net;
#[cfg(feature = "aws")]
pub mod object;
pub mod policy;
#[cfg(feature = "aws")]
pub mod read;
pub mod security_group;
pub mod service;

use std::fmt::Write as _;

use serde::Serialize;

use facts::Unread;

/// What `doctor` examines, told apart by the id's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `vpce-…`
    Endpoint(String),
    /// `vpce-svc-…`
    Service(String),
    /// `sg-…`
    SecurityGroup(String),
}

impl Subject {
    /// Parse an id.
    pub fn parse(id: &str) -> Result<Self, String> {
        let id = id.trim();
        let hex = |rest: &str| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit());
        if let Some(rest) = id.strip_prefix("vpce-svc-")
            && hex(rest)
        {
            return Ok(Self::Service(id.to_string()));
        }
        if let Some(rest) = id.strip_prefix("vpce-")
            && hex(rest)
        {
            return Ok(Self::Endpoint(id.to_string()));
        }
        if let Some(rest) = id.strip_prefix("sg-")
            && hex(rest)
        {
            return Ok(Self::SecurityGroup(id.to_string()));
        }
        Err(format!("{id:?} is not an endpoint (vpce-…), an endpoint service (vpce-svc-…) or a security group (sg-…)"))
    }

    /// The id.
    pub fn id(&self) -> &str {
        match self {
            Self::Endpoint(id) | Self::Service(id) | Self::SecurityGroup(id) => id,
        }
    }

    /// `endpoint`, `endpoint service`, `security group`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Endpoint(_) => "endpoint",
            Self::Service(_) => "endpoint service",
            Self::SecurityGroup(_) => "security group",
        }
    }
}

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
    pub fn unread(id: &'static str, concern: Concern, what: &str, err: &Unread) -> Self {
        let fix = if err.denied() {
            format!(
                "Allow {} for the caller (charts/privatelink-operator/files/iam-policy-doctor.json lists what doctor reads); an SCP or a permissions boundary can deny it even to administrators.",
                iam_action(&err.action)
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

/// Everything `doctor` found for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `endpoint`, `endpoint service`, `security group`.
    pub kind: &'static str,
    /// The subject's id.
    pub id: String,
    /// Region examined.
    pub region: String,
    /// One line on what the subject is (type, service, VPC).
    pub about: Option<String>,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

/// Counts of the verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Passing checks.
    pub pass: usize,
    /// Failing checks (each blocks something).
    pub fail: usize,
    /// Checks that could not be made.
    pub could_not_check: usize,
}

impl Report {
    /// Verdict counts.
    pub fn tally(&self) -> Tally {
        let count = |v| self.checks.iter().filter(|c| c.verdict == v).count();
        Tally { pass: count(Verdict::Pass), fail: count(Verdict::Fail), could_not_check: count(Verdict::CouldNotCheck) }
    }

    /// True when some check fails: the deletion or the traffic is blocked.
    pub fn blocked(&self) -> bool {
        self.tally().fail > 0
    }

    /// The report as people read it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{} {} in {}", capitalized(self.kind), self.id, self.region);
        if let Some(about) = &self.about {
            let _ = write!(out, " ({about})");
        }
        out.push('\n');
        for (concern, title) in
            [(Concern::Subject, "Subject"), (Concern::Deletion, "Deletion"), (Concern::Traffic, "Traffic")]
        {
            let checks: Vec<&Check> = self.checks.iter().filter(|c| c.concern == concern).collect();
            if checks.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}");
            for c in checks {
                let mark = match c.verdict {
                    Verdict::Pass => "PASS",
                    Verdict::Fail => "FAIL",
                    Verdict::CouldNotCheck => "????",
                };
                let _ = writeln!(out, "  {mark}  {:<22} {}", c.id, c.summary);
                for e in &c.evidence {
                    let _ = writeln!(out, "        evidence: {e}");
                }
                if let Some(fix) = &c.fix
                    && c.verdict != Verdict::Pass
                {
                    let _ = writeln!(out, "        fix: {fix}");
                }
            }
        }
        let t = self.tally();
        let _ = writeln!(
            out,
            "\nResult: {} passed, {} failed, {} could not be checked{}",
            t.pass,
            t.fail,
            t.could_not_check,
            if t.fail > 0 { " — something blocks (exit 1)." } else { "." }
        );
        out
    }

    /// The report for scripts: the same content as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "id": self.id,
            "region": self.region,
            "about": self.about,
            "checks": self.checks,
            "summary": self.tally(),
            "blocked": self.blocked(),
        })
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A sorted, comma-separated list.
pub(crate) fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let mut v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v.dedup();
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_told_apart_by_prefix() {
        assert_eq!(Subject::parse("vpce-svc-0abc").unwrap(), Subject::Service("vpce-svc-0abc".into()));
        assert_eq!(Subject::parse("vpce-0abc").unwrap(), Subject::Endpoint("vpce-0abc".into()));
        assert_eq!(Subject::parse(" sg-12ab ").unwrap(), Subject::SecurityGroup("sg-12ab".into()));
        for bad in ["vpc-123", "vpce-", "sg-xyz", "", "i-0abc"] {
            let err = Subject::parse(bad).unwrap_err();
            assert!(err.contains("vpce-svc-"), "{err}");
        }
    }

    #[test]
    fn reports_render_each_verdict_with_its_fix() {
        let report = Report {
            kind: "security group",
            id: "sg-1".into(),
            region: "us-east-1".into(),
            about: Some("web, vpc-1".into()),
            checks: vec![
                Check::pass("found", Concern::Subject, "It exists."),
                Check::fail("default-group", Concern::Deletion, "It is the default group.", "Delete the VPC.")
                    .with("group name: default"),
                Check::unread(
                    "instances",
                    Concern::Deletion,
                    "instances",
                    &Unread {
                        action: "DescribeInstances".into(),
                        code: Some("UnauthorizedOperation".into()),
                        message: "no".into(),
                    },
                ),
            ],
        };
        let text = report.text();
        assert!(text.starts_with("Security group sg-1 in us-east-1 (web, vpc-1)"), "{text}");
        assert!(text.contains("FAIL  default-group"), "{text}");
        assert!(text.contains("evidence: group name: default"), "{text}");
        assert!(text.contains("fix: Delete the VPC."), "{text}");
        assert!(text.contains("????  instances"), "{text}");
        assert!(text.contains("ec2:DescribeInstances"), "{text}");
        assert!(text.contains("Result: 1 passed, 1 failed, 1 could not be checked"), "{text}");
        assert!(report.blocked());
        let json = report.json();
        assert_eq!(json["checks"][1]["verdict"], "fail");
        assert_eq!(json["checks"][2]["verdict"], "could-not-check");
        assert_eq!(json["checks"][1]["concern"], "deletion");
        assert_eq!(json["summary"]["couldNotCheck"], 1);
        assert_eq!(json["blocked"], true);
        assert!(json["checks"][0].get("fix").is_none());
    }
}
