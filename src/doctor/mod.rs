//! `privatelink-operator doctor`: why an endpoint, an endpoint service or a
//! security group cannot be deleted, or carries no traffic — the failures
//! AWS's troubleshooting guides walk through, answered from live AWS.
//!
//! Doctor gathers facts and prints: the reads are [`crate::aws::facts`]'s,
//! the checks the core's ([`crate::plan::checks`], pure functions of
//! [`crate::plan::facts`], which the controllers use for their conditions
//! too); this module puts them together into a [`Report`].

#[cfg(feature = "aws")]
pub mod command;
#[cfg(feature = "aws")]
pub mod object;

use std::fmt::Write as _;

use serde::Serialize;

pub use crate::plan::checks::{Check, Concern, Verdict};
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

/// Examine a subject.
#[cfg(feature = "aws")]
pub async fn report(
    clients: &crate::aws::facts::Clients,
    subject: &Subject,
    options: &crate::aws::facts::Options,
) -> Report {
    use crate::aws::facts::{endpoint_facts, group_facts, service_facts};
    use crate::plan::checks::{endpoint, security_group, service};
    let (about, checks) = match subject {
        Subject::Endpoint(id) => match endpoint_facts(clients, id, options).await {
            Ok(f) => (f.endpoint.as_ref().map(endpoint::about), endpoint::checks(&f)),
            Err(e) => (None, vec![Check::unread("found", Concern::Subject, "the endpoint", &e)]),
        },
        Subject::Service(id) => match service_facts(clients, id).await {
            Ok(f) => (f.service.as_ref().map(service::about), service::checks(&f)),
            Err(e) => (None, vec![Check::unread("found", Concern::Subject, "the endpoint service", &e)]),
        },
        Subject::SecurityGroup(id) => match group_facts(clients, id, options).await {
            Ok(f) => (
                f.group.as_ref().map(|g| format!("{}, {}", g.name, g.vpc_id.as_deref().unwrap_or("no VPC"))),
                security_group::checks(&f),
            ),
            Err(e) => (None, vec![Check::unread("found", Concern::Subject, "the security group", &e)]),
        },
    };
    Report { kind: subject.kind(), id: subject.id().to_string(), region: clients.region.clone(), about, checks }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::facts::AwsError;

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
                    &AwsError::read_failed("DescribeInstances", Some("UnauthorizedOperation".into()), "no"),
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
