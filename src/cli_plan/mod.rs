//! `privatelink-operator plan`: validate manifests and print the AWS changes
//! they would cause, computed by the same plan core the controller runs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::api::endpoint_connection::ConnectionDecision;
use crate::api::{EndpointConnection, EndpointService, InterfaceEndpoint};
use crate::manifests::{Invalid, Manifest, check_schema};
use crate::plan::connections::{DecisionStep, decision_step};
use crate::plan::endpoint_service::{DesiredService, FollowUp, ServiceAction, exposure_warnings, plan, plan_follow_up};
use crate::plan::interface_endpoint::{
    DesiredEndpoint, EndpointAction, ResolvedService, is_aws_service, plan as plan_endpoint, replacement_needed,
    requester_managed_note,
};

use crate::plan::facts::{ObservedConnection, ObservedEndpoint, ObservedNotification, ObservedService};
use crate::plan::tags::Owner;

/// What AWS looks like to the plan: empty, or read from a live account.
pub trait ObservedState {
    /// The service an EndpointService adopts or owns, and its allowed principals.
    fn endpoint_service(
        &self,
        desired: &DesiredService,
        service_id: Option<&str>,
    ) -> Option<(ObservedService, BTreeSet<String>)>;
    /// The endpoint an InterfaceEndpoint adopts or owns.
    fn interface_endpoint(&self, desired: &DesiredEndpoint, endpoint_id: Option<&str>) -> Option<ObservedEndpoint>;
    /// The connections to a service read.
    fn connections(&self, _service_id: &str) -> Vec<ObservedConnection> {
        Vec::new()
    }
    /// The connection notifications of a service read.
    fn notifications(&self, _service_id: &str) -> Vec<ObservedNotification> {
        Vec::new()
    }
}

/// An account with nothing in it: every object plans a create.
pub struct EmptyAccount;

impl ObservedState for EmptyAccount {
    fn endpoint_service(&self, _: &DesiredService, _: Option<&str>) -> Option<(ObservedService, BTreeSet<String>)> {
        None
    }

    fn interface_endpoint(&self, _: &DesiredEndpoint, _: Option<&str>) -> Option<ObservedEndpoint> {
        None
    }
}

pub mod command;
#[cfg(feature = "aws")]
mod live;
#[cfg(test)]
mod properties;
#[cfg(feature = "aws")]
pub use live::LiveAccount;

/// What a planned change does to AWS, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Creates a resource.
    Create,
    /// Changes an existing one (settings, permissions, tags, decisions).
    Change,
    /// Deletes one.
    Delete,
}

/// One AWS change a plan would make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The AWS API action, e.g. `CreateVpcEndpoint`.
    pub action: String,
    /// The line the text output shows.
    pub detail: String,
    /// Create, change or delete.
    pub category: Category,
}

/// The plan of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObjectPlan {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// AWS changes, in order.
    pub changes: Vec<Change>,
    /// What was found in AWS, and other notes.
    pub notes: Vec<String>,
    /// Exposure and other warnings.
    pub warnings: Vec<String>,
}

/// Changes counted by category.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// To create.
    pub create: usize,
    /// To change.
    pub change: usize,
    /// To delete.
    pub delete: usize,
}

impl Counts {
    fn add(&mut self, category: Category) {
        match category {
            Category::Create => self.create += 1,
            Category::Change => self.change += 1,
            Category::Delete => self.delete += 1,
        }
    }

    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.create + self.change + self.delete == 0
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} to create, {} to change, {} to delete", self.create, self.change, self.delete)
    }
}

/// The outcome of planning a set of manifests.
#[derive(Debug, Default)]
pub struct PlanReport {
    /// Human-readable plan, one block per object, then the summary.
    pub text: String,
    /// Every valid object's plan.
    pub objects: Vec<ObjectPlan>,
    /// Manifests that cannot be applied.
    pub invalid: Vec<Invalid>,
    /// Documents of other kinds (Deployments, Namespaces…), skipped.
    pub skipped: usize,
}

impl ObjectPlan {
    /// What applying this object does, as `terraform plan` counts
    /// resources: create when any of its AWS calls creates, else change
    /// when any changes, else delete when any deletes; None when in sync.
    pub fn category(&self) -> Option<Category> {
        let has = |c: Category| self.changes.iter().any(|x| x.category == c);
        [Category::Create, Category::Change, Category::Delete].into_iter().find(|c| has(*c))
    }
}

impl PlanReport {
    /// Objects by what applying them does, in all and per kind; and the
    /// AWS calls they make.
    pub fn summary(&self) -> (Counts, std::collections::BTreeMap<String, Counts>, usize) {
        let mut total = Counts::default();
        let mut by_kind: std::collections::BTreeMap<String, Counts> = std::collections::BTreeMap::new();
        let mut calls = 0;
        for object in &self.objects {
            let kind = by_kind.entry(object.kind.clone()).or_default();
            calls += object.changes.len();
            if let Some(category) = object.category() {
                total.add(category);
                kind.add(category);
            }
        }
        (total, by_kind, calls)
    }

    /// True when applying the manifests would change AWS.
    pub fn has_changes(&self) -> bool {
        !self.summary().0.is_empty()
    }

    /// The report as JSON (`plan --output json`): the same content as the text.
    pub fn to_json(&self) -> serde_json::Value {
        let (total, by_kind, calls) = self.summary();
        serde_json::json!({
            "objects": self.objects,
            "invalid": self.invalid.iter().map(|i| serde_json::json!({
                "location": i.location,
                "object": i.object,
                "problems": i.problems.iter().map(|(field, reason)| serde_json::json!({"field": field, "reason": reason})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "skipped": self.skipped,
            "summary": {"create": total.create, "change": total.change, "delete": total.delete, "awsCalls": calls, "byKind": by_kind},
        })
    }
}

/// `n thing` or `n things`.
fn counted(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// Whether a document is for this operator: one of its kinds (whatever
/// the apiVersion says: a wrong one is reported, not skipped), anything of
/// its group (an unknown kind is reported), or not a Kubernetes object at
/// all (reported). Other kinds are skipped, so a plan can read what
/// `kustomize build` or `helm template` renders for a whole application.
fn is_ours(manifest: &Manifest) -> bool {
    const KINDS: [&str; 3] = ["EndpointService", "EndpointConnection", "InterfaceEndpoint"];
    let Some(object) = manifest.value.as_object() else { return true };
    let kind = object.get("kind").and_then(Value::as_str);
    let group = object.get("apiVersion").and_then(Value::as_str).map(|v| v.rsplit_once('/').map_or("", |(g, _)| g));
    match (kind, group) {
        (Some(kind), _) if KINDS.contains(&kind) => true,
        (_, Some("privatelink.dev")) => true,
        (Some(_), Some(_)) => false,
        _ => true,
    }
}

/// Sort one plan line into a change, a note or a warning.
fn classify(line: &str, plan: &mut ObjectPlan) {
    if let Some(warning) = line.strip_prefix("warning: ") {
        plan.warnings.push(warning.to_string());
        return;
    }
    let action_text = line.strip_prefix("then ").unwrap_or(line);
    let action = action_text.split_whitespace().next().unwrap_or_default();
    let is_action = action.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    if !is_action {
        plan.notes.push(line.to_string());
        return;
    }
    let category = if action == "CreateTags" {
        Category::Change
    } else if action.starts_with("Create") {
        Category::Create
    } else if action.starts_with("Delete") {
        Category::Delete
    } else {
        Category::Change
    };
    plan.changes.push(Change { action: action.to_string(), detail: line.to_string(), category });
}

/// Plan every manifest against `observed`; `default_region` stands in for
/// the operator's region.
pub fn plan_manifests(manifests: &[Manifest], observed: &dyn ObservedState, default_region: &str) -> PlanReport {
    let mut report = PlanReport::default();
    for manifest in manifests {
        if !is_ours(manifest) {
            report.skipped += 1;
            continue;
        }
        if let Err(invalid) = check_schema(manifest) {
            report.invalid.push(invalid);
            continue;
        }
        let header = format!("{} {}", manifest.kind(), manifest.object_ref());
        match plan_one(manifest, manifests, observed, default_region) {
            Ok(lines) => {
                let _ = writeln!(report.text, "{header}");
                if lines.is_empty() {
                    let _ = writeln!(report.text, "  in sync: no AWS changes");
                }
                let (namespace, name) = manifest
                    .object_ref()
                    .split_once('/')
                    .map(|(n, m)| (n.to_string(), m.to_string()))
                    .unwrap_or_default();
                let mut plan = ObjectPlan { kind: manifest.kind().to_string(), namespace, name, ..Default::default() };
                for line in lines {
                    let _ = writeln!(report.text, "  {line}");
                    classify(&line, &mut plan);
                }
                report.objects.push(plan);
            }
            Err(problems) => report.invalid.push(Invalid { location: manifest.location(), object: header, problems }),
        }
    }
    let (total, by_kind, calls) = report.summary();
    if report.skipped > 0 {
        let _ = writeln!(report.text, "\nskipped {} of other kinds", counted(report.skipped, "document"));
    }
    let _ = writeln!(report.text, "\nPlan: {total} ({}).", counted(calls, "AWS call"));
    for (kind, counts) in by_kind {
        let _ = writeln!(report.text, "  {kind}: {counts}");
    }
    report
}

type Problems = Vec<(String, String)>;

/// EndpointConnections among the manifests that decide connections of the
/// EndpointService `owner` names (endpoint → object name).
fn deciding_manifests(all: &[Manifest], owner: &Owner, service_id: &str) -> std::collections::BTreeMap<String, String> {
    all.iter()
        .filter(|m| m.kind() == "EndpointConnection" && m.object_ref().starts_with(&format!("{}/", owner.namespace)))
        .filter_map(|m| serde_json::from_value::<EndpointConnection>(m.value.clone()).ok())
        .filter(|c| {
            c.spec.service_ref.as_ref().is_some_and(|r| r.name == owner.name)
                || (!service_id.is_empty() && c.spec.service_id.as_deref() == Some(service_id))
        })
        .map(|c| (c.spec.vpc_endpoint_id.clone(), c.metadata.name.clone().unwrap_or_default()))
        .collect()
}

fn manifests_in_namespace<'a>(all: &'a [Manifest], namespace: &str, kind: &str, name: &str) -> Option<&'a Manifest> {
    all.iter().find(|m| m.kind() == kind && m.object_ref() == format!("{namespace}/{name}"))
}

fn plan_one(
    manifest: &Manifest,
    all: &[Manifest],
    observed: &dyn ObservedState,
    default_region: &str,
) -> Result<Vec<String>, Problems> {
    let typed = |e: serde_json::Error| vec![("spec".to_string(), e.to_string())];
    let owner = Owner {
        cluster: String::new(),
        namespace: manifest.object_ref().split('/').next().unwrap_or("default").to_string(),
        name: manifest.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
        uid: "<uid>".to_string(),
    };
    match manifest.kind() {
        "EndpointService" => {
            let svc: EndpointService = serde_json::from_value(manifest.value.clone()).map_err(typed)?;
            let desired = DesiredService::from_spec(&svc.spec, &owner, 1, default_region)
                .map_err(|p| p.into_iter().map(|p| (p.field, p.message)).collect::<Vec<_>>())?;
            let found = observed.endpoint_service(&desired, svc.spec.service_id.as_deref());
            if let (Some(id), None) = (&svc.spec.service_id, &found) {
                return Ok(vec![format!(
                    "adopt {id}: not found in the account read; the operator would report ServiceNotFound"
                )]);
            }
            let owned = svc.spec.service_id.is_none();
            let (obs, principals) = found.map(|(o, p)| (Some(o), p)).unwrap_or_default();
            let mut desired = desired;
            if let Some(o) = &obs {
                // The UID tag of a live resource is the real object's; keep it.
                if let Some(uid) = o.tags.get(crate::plan::tags::OWNER_UID) {
                    desired.tags.insert(crate::plan::tags::OWNER_UID.to_string(), uid.clone());
                }
            }
            let mut lines: Vec<String> =
                plan(&desired, obs.as_ref(), &principals, owned).iter().map(ServiceAction::to_string).collect();
            if let Some(o) = &obs {
                lines.insert(0, format!("found {} ({})", o.id, o.state.as_deref().unwrap_or("unknown state")));
            }
            // What follows once the service exists: the same decisions `run` makes.
            let (service, prefix) = match &obs {
                Some(o) => (o.clone(), ""),
                None => (
                    ObservedService {
                        private_dns_name: desired.private_dns_name.clone().flatten(),
                        private_dns_state: Some("pendingVerification".into()),
                        ..Default::default()
                    },
                    "then ",
                ),
            };
            let connections = observed.connections(&service.id);
            let notifications = observed.notifications(&service.id);
            let decided = deciding_manifests(all, &owner, &service.id);
            let follow = FollowUp {
                connections: &connections,
                notifications: &notifications,
                decided: &decided,
                verification_started: None,
                now: crate::plan::clock::Clock::now(&crate::plan::clock::SystemClock),
                owned,
            };
            lines.extend(plan_follow_up(&desired, &service, &follow).iter().map(|a| format!("{prefix}{a}")));
            let acceptance = desired.acceptance_required.unwrap_or(service.acceptance_required);
            let allowed = desired.allowed_principals.clone().unwrap_or(principals);
            for (_, warning) in exposure_warnings(&allowed, acceptance, &[], 0) {
                lines.push(format!("warning: {warning}"));
            }
            if let Some(id) = &svc.spec.service_id {
                lines.push(format!(
                    "note: adopting {id} needs namespace {} in the operator's --adopt-namespaces setting",
                    owner.namespace
                ));
            }
            Ok(lines)
        }
        "EndpointConnection" => {
            let conn: EndpointConnection = serde_json::from_value(manifest.value.clone()).map_err(typed)?;
            let endpoint = &conn.spec.vpc_endpoint_id;
            // The service: named by id, or the live service of the EndpointService referenced.
            let service_id = conn.spec.service_id.clone().or_else(|| {
                let r = conn.spec.service_ref.as_ref()?;
                let m = manifests_in_namespace(all, &owner.namespace, "EndpointService", &r.name)?;
                let svc: EndpointService = serde_json::from_value(m.value.clone()).ok()?;
                let svc_owner = Owner { name: r.name.clone(), ..owner.clone() };
                let desired = DesiredService::from_spec(&svc.spec, &svc_owner, 1, default_region).ok()?;
                observed.endpoint_service(&desired, svc.spec.service_id.as_deref()).map(|(o, _)| o.id)
            });
            let label = conn
                .spec
                .service_id
                .clone()
                .or_else(|| {
                    conn.spec.service_ref.as_ref().map(|r| format!("the service of EndpointService {}", r.name))
                })
                .unwrap_or_default();
            let connection = service_id
                .as_deref()
                .and_then(|id| observed.connections(id).into_iter().find(|c| c.endpoint_id == *endpoint));
            let line = match decision_step(conn.spec.decision, connection.as_ref()) {
                DecisionStep::Waiting => {
                    let action = match conn.spec.decision {
                        ConnectionDecision::Accept => "AcceptVpcEndpointConnections",
                        ConnectionDecision::Reject => "RejectVpcEndpointConnections",
                    };
                    format!("{action} service={label} endpoint={endpoint} (once the request is seen)")
                }
                DecisionStep::Accept => format!("AcceptVpcEndpointConnections service={label} endpoints=[{endpoint}]"),
                DecisionStep::Reject => format!("RejectVpcEndpointConnections service={label} endpoints=[{endpoint}]"),
                DecisionStep::Done => return Ok(Vec::new()),
                DecisionStep::Impossible(why) => return Err(vec![("spec.decision".into(), why)]),
            };
            Ok(vec![line])
        }
        "InterfaceEndpoint" => {
            let ep: InterfaceEndpoint = serde_json::from_value(manifest.value.clone()).map_err(typed)?;
            let mut notes = Vec::new();
            let (service, acceptance) = match (&ep.spec.service_name, &ep.spec.service_ref) {
                (Some(name), _) => (
                    ResolvedService { name: name.clone(), region: ep.spec.service_region.clone(), gateway: false },
                    !is_aws_service(name),
                ),
                (None, Some(r)) => {
                    let referenced = manifests_in_namespace(all, &owner.namespace, "EndpointService", &r.name)
                        .and_then(|m| serde_json::from_value::<EndpointService>(m.value.clone()).ok());
                    if referenced.is_none() {
                        notes.push(format!(
                            "note: EndpointService {} is not among these manifests; the endpoint waits until it exists and is Available",
                            r.name
                        ));
                    }
                    let region = referenced
                        .as_ref()
                        .map(|s| s.spec.region.clone().unwrap_or_else(|| default_region.to_string()));
                    let gateway = referenced.as_ref().is_some_and(|s| s.spec.gateway_load_balancer_arns.is_some());
                    let acceptance = referenced.as_ref().is_none_or(|s| s.spec.acceptance_required.unwrap_or(true));
                    (
                        ResolvedService {
                            name: format!("<service name of EndpointService {}>", r.name),
                            region,
                            gateway,
                        },
                        acceptance,
                    )
                }
                (None, None) => {
                    return Err(vec![("spec".into(), "set exactly one of serviceName and serviceRef".into())]);
                }
            };
            let desired = DesiredEndpoint::from_spec(&ep.spec, &service, &owner, 1, default_region)
                .map_err(|p| p.into_iter().map(|p| (p.field, p.message)).collect::<Vec<_>>())?;
            let found = observed.interface_endpoint(&desired, ep.spec.vpc_endpoint_id.as_deref());
            if let (Some(id), None) = (&ep.spec.vpc_endpoint_id, &found) {
                return Ok(vec![format!(
                    "adopt {id}: not found in the account read; the operator would report EndpointNotFound"
                )]);
            }
            let mut desired = desired;
            if let Some(uid) = found.as_ref().and_then(|o| o.tags.get(crate::plan::tags::OWNER_UID)) {
                desired.tags.insert(crate::plan::tags::OWNER_UID.to_string(), uid.clone());
            }
            if let Some(o) = &found {
                // The same checks `run` makes before it changes anything.
                let problems = replacement_needed(&desired, o);
                if !problems.is_empty() {
                    return Err(problems.into_iter().map(|p| (p.field, p.message)).collect());
                }
            }
            let owned = ep.spec.vpc_endpoint_id.is_none();
            let mut lines: Vec<String> = found.iter().map(|o| format!("found {} ({})", o.id, o.state)).collect();
            if let Some(note) = found.as_ref().and_then(requester_managed_note) {
                lines.push(format!("note: {note}"));
            }
            if let Some(id) = &ep.spec.vpc_endpoint_id {
                lines.push(format!(
                    "note: adopting {id} needs namespace {} in the operator's --adopt-namespaces setting",
                    owner.namespace
                ));
            }
            lines.extend(
                plan_endpoint(&desired, found.as_ref(), acceptance, owned).iter().map(EndpointAction::to_string),
            );
            lines.extend(notes);
            Ok(lines)
        }
        other => Err(vec![("kind".to_string(), format!("unknown kind {other:?}"))]),
    }
}
