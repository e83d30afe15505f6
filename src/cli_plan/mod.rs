//! `privatelink-operator plan`: validate manifests and print the AWS changes
//! they would cause. Each object runs its kind's stages
//! ([`crate::plan::stages`]) exactly as `run` does — dereference, observe,
//! validate, plan — over the manifests it was given (the objects they refer
//! to, with the status `run` would give them) and an empty account, or with
//! `--live` AWS read through the operator's own clients; so it reports what
//! `run` would do, with the same diagnostics, and counts changes from the
//! actions' own categories.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use crate::api::endpoint_service::PrivateDnsNameConfiguration;
use crate::api::{EndpointConnection, EndpointService, EndpointServiceStatus, InterfaceEndpoint};
use crate::manifests::{Invalid, Manifest, check_schema};
use crate::plan::describe_problems;
use crate::plan::error::Error;
use crate::plan::facts::{
    AwsError, ObservedConnection, ObservedEndpoint, ObservedLoadBalancer, ObservedNotification, ObservedService,
    ServiceOffer, Subnet,
};
use crate::plan::reads::{AwsReads, Nothing, World};
use crate::plan::stages::{Category, PlannedAction, Scope, Stages};
use crate::plan::tags::Owner;

pub mod command;
#[cfg(feature = "aws")]
mod live;
#[cfg(test)]
mod properties;
#[cfg(feature = "aws")]
pub use live::Live;

/// Where `plan` reads AWS: an empty account, or live AWS.
pub trait Accounts: Sync {
    /// What it reads one region with.
    type Reads: AwsReads + Send;
    /// The reads of `region`.
    fn region(&self, region: &str) -> impl Future<Output = Self::Reads> + Send;
    /// The cluster id and uid in the ownership tags of the resource that an
    /// object of `kind` named `namespace/name` manages in `region` (the
    /// one `adopt` names, else the one its tags name), when there is one:
    /// the manifests carry no uid, and the resources the cluster's object
    /// manages carry its.
    fn owner(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        adopt: Option<&str>,
        region: &str,
    ) -> impl Future<Output = Result<Option<(String, String)>, AwsError>> + Send;
}

/// An account with nothing in it: every object plans a create.
pub struct Offline;

impl Accounts for Offline {
    type Reads = Nothing;

    async fn region(&self, region: &str) -> Nothing {
        Nothing { region: region.to_string() }
    }

    async fn owner(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &str,
    ) -> Result<Option<(String, String)>, AwsError> {
        Ok(None)
    }
}

/// Reads that know the ids and names the plan gives what does not exist
/// yet (`<service name of EndpointService api>`): AWS has nothing by them.
struct Predicting<A>(A);

/// True for an id or name the plan made up for something not created yet.
fn predicted(id: &str) -> bool {
    id.starts_with('<')
}

impl<A: AwsReads> AwsReads for Predicting<A> {
    fn region(&self) -> &str {
        self.0.region()
    }

    async fn service(&self, id: &str, age: Duration) -> Result<Option<ObservedService>, AwsError> {
        if predicted(id) { Ok(None) } else { self.0.service(id, age).await }
    }

    async fn find_service(&self, id: &str) -> Result<Option<ObservedService>, AwsError> {
        if predicted(id) { Ok(None) } else { self.0.find_service(id).await }
    }

    async fn owned_service(&self, owner: &Owner, age: Duration) -> Result<Option<ObservedService>, AwsError> {
        self.0.owned_service(owner, age).await
    }

    async fn find_owned_service(&self, owner: &Owner) -> Result<Option<ObservedService>, AwsError> {
        self.0.find_owned_service(owner).await
    }

    async fn allowed_principals(&self, id: &str) -> Result<std::collections::BTreeSet<String>, AwsError> {
        self.0.allowed_principals(id).await
    }

    async fn load_balancers(
        &self,
        arns: &[String],
        age: Duration,
    ) -> Result<Option<Vec<ObservedLoadBalancer>>, AwsError> {
        self.0.load_balancers(arns, age).await
    }

    async fn zone_count(&self) -> Option<usize> {
        self.0.zone_count().await
    }

    async fn connections_of(&self, service_id: &str, age: Duration) -> Result<Vec<ObservedConnection>, AwsError> {
        if predicted(service_id) { Ok(Vec::new()) } else { self.0.connections_of(service_id, age).await }
    }

    async fn connection_to(
        &self,
        service_id: &str,
        endpoint_id: &str,
        age: Duration,
    ) -> Result<Option<ObservedConnection>, AwsError> {
        if predicted(service_id) { Ok(None) } else { self.0.connection_to(service_id, endpoint_id, age).await }
    }

    async fn notifications_of(&self, service_id: &str, age: Duration) -> Result<Vec<ObservedNotification>, AwsError> {
        if predicted(service_id) { Ok(Vec::new()) } else { self.0.notifications_of(service_id, age).await }
    }

    async fn endpoint(&self, id: &str, age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        self.0.endpoint(id, age).await
    }

    async fn find_endpoint(&self, id: &str) -> Result<Option<ObservedEndpoint>, AwsError> {
        self.0.find_endpoint(id).await
    }

    async fn owned_endpoint(&self, owner: &Owner, age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        self.0.owned_endpoint(owner, age).await
    }

    async fn find_owned_endpoint(&self, owner: &Owner) -> Result<Option<ObservedEndpoint>, AwsError> {
        self.0.find_owned_endpoint(owner).await
    }

    async fn service_offer(
        &self,
        name: &str,
        region: Option<&str>,
        age: Duration,
    ) -> Result<Option<Option<ServiceOffer>>, AwsError> {
        if predicted(name) { Ok(None) } else { self.0.service_offer(name, region, age).await }
    }

    async fn vpc_dns(&self, vpc_id: &str, age: Duration) -> Result<Option<(bool, bool)>, AwsError> {
        self.0.vpc_dns(vpc_id, age).await
    }

    async fn subnets(&self, ids: &[String], age: Duration) -> Result<Option<Vec<Subnet>>, AwsError> {
        self.0.subnets(ids, age).await
    }
}

/// The manifests as the world around an object of `namespace`: the
/// EndpointServices among them with the status `run` would give them, the
/// EndpointConnections among them.
struct Manifests<'a> {
    namespace: String,
    services: &'a BTreeMap<(String, String), EndpointService>,
    connections: &'a [EndpointConnection],
}

impl World for Manifests<'_> {
    async fn endpoint_service(&self, name: &str) -> Result<Option<EndpointService>, Error> {
        Ok(self.services.get(&(self.namespace.clone(), name.to_string())).cloned())
    }

    async fn endpoint_connections(&self) -> Result<Vec<EndpointConnection>, Error> {
        Ok(self
            .connections
            .iter()
            .filter(|c| c.metadata.namespace.as_deref() == Some(self.namespace.as_str()))
            .cloned()
            .collect())
    }

    async fn topic_policy(&self, _: &str) -> Option<Result<Option<String>, AwsError>> {
        None
    }

    async fn traffic_allowed(&self, _: &ObservedEndpoint, _: bool) -> Option<crate::api::conditions::Condition> {
        None
    }
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
    /// True for a change that waits for what comes first (the service
    /// created, the endpoint asking to connect): `then …` in the text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub later: bool,
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

/// What planning one object found: its plan, or the problems that make it
/// invalid.
enum Planned {
    /// The object's plan.
    Plan(ObjectPlan),
    /// Problems with the spec (field, reason).
    Invalid(Vec<(String, String)>),
}

/// Run one object's stages as `run` would, short of carrying anything out.
async fn plan_object<K, C>(
    obj: &K,
    world: &Manifests<'_>,
    accounts: &C,
    default_region: &str,
    now: jiff::Timestamp,
    status: &mut K::Status,
) -> Result<Planned, AwsError>
where
    K: Stages + kube::Resource<DynamicType = ()>,
    C: Accounts,
{
    let meta = obj.meta();
    let (namespace, name) = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
    let kind = K::kind(&()).to_string();
    let mut plan =
        ObjectPlan { kind: kind.clone(), namespace: namespace.clone(), name: name.clone(), ..Default::default() };
    let outcome = async {
        obj.prepare(status);
        let (refs, target) = obj.dereference(world, status, default_region).await?;
        let adopt = target.adopting.as_ref().map(|(_, id)| id.clone());
        let (cluster, uid) = accounts
            .owner(&kind, &namespace, &name, adopt.as_deref(), &target.region)
            .await?
            .unwrap_or_else(|| (String::new(), "<uid>".to_string()));
        let owner = Owner { cluster, namespace: namespace.clone(), name: name.clone(), uid };
        if let Some((_, id)) = &target.adopting {
            plan.notes.push(format!(
                "note: adopting {id} needs namespace {namespace} in the operator's --adopt-namespaces setting"
            ));
        }
        let scope = Scope { owner, generation: 1, region: target.region.clone(), age: Duration::ZERO, now };
        obj.check(&refs, &scope)?;
        let aws = Predicting(accounts.region(&target.region).await);
        let observed = obj.observe(&refs, status, &scope, &aws, world, None, &[]).await?;
        plan.notes.splice(0..0, obj.notes(&observed));
        let desired = obj.validate(&refs, &observed, &scope)?;
        obj.fill(&observed, Some(&desired), status);
        let now_actions = obj.plan(&desired, &observed, &scope);
        let later = obj.eventually(&desired, &observed, &scope);
        let change = |detail: String, action: &K::Action, later: bool| Change {
            action: action.aws_action().to_string(),
            detail,
            category: action.category(),
            later,
        };
        plan.changes.extend(now_actions.iter().map(|a| change(a.to_string(), a, false)));
        plan.changes.extend(later.iter().map(|a| change(a.describe_later(), a, true)));
        plan.warnings = obj.warnings(&desired, &observed);
        if plan.changes.is_empty()
            && let Ok(settled) = obj.conclude(&refs, &observed, &desired, &scope, status)
            && let Some(note) = conditions_note(&settled.conditions)
        {
            plan.notes.push(note);
        }
        Ok::<(), Error>(())
    }
    .await;
    match outcome {
        Ok(()) => Ok(Planned::Plan(plan)),
        // What the spec adopts is not in the account read: `run` would say
        // so in a condition (an empty account holds nothing to adopt).
        Err(Error::Spec(reason, problems)) if reason.ends_with("NotFound") => {
            plan.notes.push(format!("the operator would report {reason}: {}", describe_problems(&problems)));
            Ok(Planned::Plan(plan))
        }
        Err(Error::Spec(_, problems)) => {
            Ok(Planned::Invalid(problems.into_iter().map(|p| (p.field, p.message)).collect()))
        }
        Err(Error::Aws(e, _)) => Err(e),
        Err(other) => {
            plan.notes.push(format!("waiting: {other}"));
            Ok(Planned::Plan(plan))
        }
    }
}

/// The status `run` would give an EndpointService once it holds the plan's
/// outcome: the service AWS holds, or one created (known after apply).
fn predicted_status(
    svc: &EndpointService,
    mut status: EndpointServiceStatus,
    default_region: &str,
) -> EndpointServiceStatus {
    let name = svc.metadata.name.clone().unwrap_or_default();
    status.region =
        status.region.or_else(|| Some(svc.spec.region.clone().unwrap_or_else(|| default_region.to_string())));
    status.role_arn = svc.spec.role_arn.clone();
    if status.service_id.is_none() {
        status.service_id = Some(format!("<service of EndpointService {name}>"));
        status.service_name = Some(format!("<service name of EndpointService {name}>"));
        status.acceptance_required = Some(svc.spec.acceptance_required.unwrap_or(true));
        status.private_dns_name_configuration =
            svc.spec.private_dns_name.as_ref().map(|n| PrivateDnsNameConfiguration {
                name: Some(n.clone()),
                state: Some("pendingVerification".into()),
                ..Default::default()
            });
    }
    status.service_state = Some("Available".into());
    status
}

/// One manifest of ours, typed.
enum Object {
    Service(Box<EndpointService>),
    Connection(Box<EndpointConnection>),
    Endpoint(Box<InterfaceEndpoint>),
}

/// The manifest as one of the three kinds, or why it is none.
fn typed(manifest: &Manifest) -> Result<Object, Vec<(String, String)>> {
    let typed = |e: serde_json::Error| vec![("spec".to_string(), e.to_string())];
    let mut value = manifest.value.clone();
    // A manifest without a namespace goes into the default one, as kubectl applies it.
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        && !meta.contains_key("namespace")
    {
        let ns = manifest.object_ref().split('/').next().unwrap_or("default").to_string();
        meta.insert("namespace".into(), Value::String(ns));
    }
    match manifest.kind() {
        "EndpointService" => serde_json::from_value(value).map(|o| Object::Service(Box::new(o))).map_err(typed),
        "EndpointConnection" => serde_json::from_value(value).map(|o| Object::Connection(Box::new(o))).map_err(typed),
        "InterfaceEndpoint" => serde_json::from_value(value).map(|o| Object::Endpoint(Box::new(o))).map_err(typed),
        other => Err(vec![("kind".to_string(), format!("unknown kind {other:?}"))]),
    }
}

/// Plan every manifest against `accounts`; `default_region` stands in for
/// the operator's region. EndpointServices are planned first: the status
/// each would have is what the objects that refer to it see.
pub async fn plan_manifests<C: Accounts>(
    manifests: &[Manifest],
    accounts: &C,
    default_region: &str,
    now: jiff::Timestamp,
) -> Result<PlanReport, AwsError> {
    let mut report = PlanReport::default();
    let mut objects: Vec<(usize, Object)> = Vec::new();
    let mut outcomes: BTreeMap<usize, Result<ObjectPlan, Invalid>> = BTreeMap::new();
    for (i, manifest) in manifests.iter().enumerate() {
        if !is_ours(manifest) {
            report.skipped += 1;
            continue;
        }
        if let Err(invalid) = check_schema(manifest) {
            outcomes.insert(i, Err(invalid));
            continue;
        }
        match typed(manifest) {
            Ok(object) => objects.push((i, object)),
            Err(problems) => {
                let object = format!("{} {}", manifest.kind(), manifest.object_ref());
                outcomes.insert(i, Err(Invalid { location: manifest.location(), object, problems }));
            }
        }
    }
    let connections: Vec<EndpointConnection> = objects
        .iter()
        .filter_map(|(_, o)| match o {
            Object::Connection(c) => Some((**c).clone()),
            _ => None,
        })
        .collect();
    let mut services: BTreeMap<(String, String), EndpointService> = BTreeMap::new();
    let world_of =
        |namespace: &str, services| Manifests { namespace: namespace.to_string(), services, connections: &connections };
    let empty = BTreeMap::new();
    for (i, object) in &objects {
        let Object::Service(svc) = object else { continue };
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let mut status = EndpointServiceStatus::default();
        let planned =
            plan_object(svc.as_ref(), &world_of(&ns, &empty), accounts, default_region, now, &mut status).await?;
        let mut predicted = (**svc).clone();
        predicted.status = Some(predicted_status(svc, status, default_region));
        services.insert((ns, svc.metadata.name.clone().unwrap_or_default()), predicted);
        outcomes.insert(*i, outcome(&manifests[*i], planned));
    }
    for (i, object) in &objects {
        let planned = match object {
            Object::Service(_) => continue,
            Object::Connection(c) => {
                let world = world_of(c.metadata.namespace.as_deref().unwrap_or_default(), &services);
                plan_object(c.as_ref(), &world, accounts, default_region, now, &mut Default::default()).await?
            }
            Object::Endpoint(e) => {
                let world = world_of(e.metadata.namespace.as_deref().unwrap_or_default(), &services);
                plan_object(e.as_ref(), &world, accounts, default_region, now, &mut Default::default()).await?
            }
        };
        outcomes.insert(*i, outcome(&manifests[*i], planned));
    }
    for (_, outcome) in outcomes {
        match outcome {
            Ok(plan) => {
                let _ = writeln!(report.text, "{} {}/{}", plan.kind, plan.namespace, plan.name);
                for line in plan.notes.iter().chain(plan.changes.iter().map(|c| &c.detail)) {
                    let _ = writeln!(report.text, "  {line}");
                }
                if plan.changes.is_empty() {
                    let _ = writeln!(report.text, "  in sync: no AWS changes");
                }
                for warning in &plan.warnings {
                    let _ = writeln!(report.text, "  warning: {warning}");
                }
                report.objects.push(plan);
            }
            Err(invalid) => report.invalid.push(invalid),
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
    Ok(report)
}

/// The plan, or the manifest's problems.
fn outcome(manifest: &Manifest, planned: Planned) -> Result<ObjectPlan, Invalid> {
    match planned {
        Planned::Plan(plan) => Ok(plan),
        Planned::Invalid(problems) => Err(Invalid {
            location: manifest.location(),
            object: format!("{} {}", manifest.kind(), manifest.object_ref()),
            problems,
        }),
    }
}

/// Plan against an empty account, without AWS or a cluster (an empty
/// account answers every read, so the error never comes).
pub fn plan_offline(
    manifests: &[Manifest],
    default_region: &str,
    now: jiff::Timestamp,
) -> Result<PlanReport, AwsError> {
    ready(plan_manifests(manifests, &Offline, default_region, now))
}

/// The note a plan without changes shows when the object would still not
/// be Ready (AWS cannot carry the spec out, regions wait…).
fn conditions_note(conditions: &[crate::api::conditions::Condition]) -> Option<String> {
    use crate::api::conditions::READY;
    let ready = conditions.iter().find(|c| c.type_ == READY)?;
    (ready.status != "True").then(|| format!("note: {}: {}", ready.reason, ready.message))
}

/// The value of a future that never waits (what reads of an empty account
/// and of the manifests are).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::yield_now();
    }
}
