//! The stages every kind is made of, in the order they run:
//!
//! 1. `dereference` — read the Kubernetes objects the spec refers to
//!    ([`World`]), and say where and as whom the object acts ([`Target`]);
//! 2. `observe` — read AWS as that identity sees it in that region
//!    ([`AwsReads`]), with the ownership refusal;
//! 3. `validate` — pure: the desired state, or the problems;
//! 4. `plan` — pure: the actions that make AWS match;
//! 5. `status` — pure: the status fields and conditions from what was
//!    observed and done.
//!
//! `run`'s skeleton (`crate::controller::skeleton`) checks the tenancy rules
//! between 1 and 2, records the target, asks the ownership guard, carries
//! the actions out and observes again for what they changed; `plan` runs
//! the same stages over the manifests and an empty (or live) account.

use std::future::Future;
use std::time::Duration;

use super::Next;
use super::error::Error;
use super::reads::{AwsReads, World};
use super::tags::{Claim, Owner};
use crate::api::conditions::Condition;

/// Where an object acts and as whom, as its spec and its recorded status say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Role to assume (None: the operator's own credentials).
    pub role_arn: Option<String>,
    /// External ID for the role.
    pub external_id: Option<String>,
    /// Region of the resource.
    pub region: String,
    /// The spec field that names an existing resource to adopt, and the
    /// id it names, when one does.
    pub adopting: Option<(&'static str, String)>,
    /// The VPC the resource is placed in, when the kind places one.
    pub vpc_id: Option<String>,
}

/// What every stage knows of the object besides its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The object's owner identity (cluster, namespace, name, uid).
    pub owner: Owner,
    /// Its generation.
    pub generation: i64,
    /// The region the object acts in (its target's).
    pub region: String,
    /// How old a snapshot of AWS may be for this look.
    pub age: Duration,
    /// Now.
    pub now: jiff::Timestamp,
}

/// Whether an action changes what AWS holds, for a plan's summary.
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

/// An action a plan holds.
pub trait PlannedAction: std::fmt::Display + std::fmt::Debug + Clone + PartialEq + Send + Sync {
    /// The AWS API action it performs.
    fn aws_action(&self) -> &'static str;
    /// Create, change or delete.
    fn category(&self) -> Category;
    /// True when it is announced by an Event (tag changes are not).
    fn announced(&self) -> bool;
    /// How a plan shows it when it waits for what comes first.
    fn describe_later(&self) -> String {
        format!("then {self}")
    }
}

/// What a successful pass reports beyond the status fields.
#[derive(Debug, Clone)]
pub struct Settled {
    /// Ready and the kind's own conditions (Synced=True is added).
    pub conditions: Vec<Condition>,
    /// The message of Synced=True (e.g. a requester-managed note).
    pub synced: Option<(&'static str, String)>,
    /// When to look again.
    pub next: Next,
    /// Warning Events to publish (reason, note).
    pub warnings: Vec<(&'static str, String)>,
}

impl Settled {
    /// Settled with these conditions, looking again as `next` says.
    pub fn new(conditions: Vec<Condition>, next: Next) -> Self {
        Self { conditions, synced: None, next, warnings: Vec::new() }
    }
}

/// One kind's stages.
pub trait Stages: Sized + Send + Sync {
    /// The kind's status.
    type Status: Clone + Default + Send + Sync;
    /// What `dereference` found (Kubernetes objects the spec refers to).
    type Refs: Send + Sync;
    /// What `observe` found in AWS.
    type Observed: Send + Sync;
    /// The desired state `validate` resolves.
    type Desired: Send + Sync;
    /// The actions `plan` orders.
    type Action: PlannedAction;

    /// Status the object shows whatever happens next (its deletion policy).
    fn prepare(&self, _status: &mut Self::Status) {}

    /// True while AWS moves the resource (status as last seen): snapshots
    /// are then read younger.
    fn moving(status: &Self::Status) -> bool;

    /// Stage 1: the Kubernetes objects the spec refers to, and where and as
    /// whom to act.
    fn dereference<W: World>(
        &self,
        world: &W,
        status: &Self::Status,
        default_region: &str,
    ) -> impl Future<Output = Result<(Self::Refs, Target), Error>> + Send;

    /// Stage 3, the part the spec alone decides: refused before any AWS read.
    fn check(&self, _refs: &Self::Refs, _scope: &Scope) -> Result<(), Error> {
        Ok(())
    }

    /// Stage 2: AWS as the target identity sees it. `after` are the actions
    /// the previous pass carried out (empty on the first): what they
    /// changed is read again, the rest of `previous` kept.
    #[allow(clippy::too_many_arguments)]
    fn observe<A: AwsReads, W: World>(
        &self,
        refs: &Self::Refs,
        status: &Self::Status,
        scope: &Scope,
        aws: &A,
        world: &W,
        previous: Option<Self::Observed>,
        after: &[Self::Action],
    ) -> impl Future<Output = Result<Self::Observed, Error>> + Send;

    /// A claim the ownership guard must grant before anything is recorded
    /// (an EndpointConnection deciding a service named by id); its permit
    /// serves the first pass's actions.
    fn claim_first<'a>(&'a self, _observed: &'a Self::Observed) -> Option<Claim<'a>> {
        None
    }

    /// Write where the object acts (`target`, in `account`) into its
    /// status, for cleanup; true when that changed it.
    fn record(&self, target: &Target, account: &str, observed: &Self::Observed, status: &mut Self::Status) -> bool;

    /// Stage 3: the desired state, or why there is none.
    fn validate(&self, refs: &Self::Refs, observed: &Self::Observed, scope: &Scope) -> Result<Self::Desired, Error>;

    /// Stage 4: the actions that make AWS hold `desired`, in order.
    fn plan(&self, desired: &Self::Desired, observed: &Self::Observed, scope: &Scope) -> Vec<Self::Action>;

    /// The claim the actions need from the ownership guard.
    fn claim<'a>(&'a self, observed: &'a Self::Observed) -> Claim<'a>;

    /// The id of the resource the actions act on (None before it exists).
    fn resource_id(observed: &Self::Observed) -> Option<&str>;

    /// A created resource's id, into the status.
    fn created(status: &mut Self::Status, id: &str);

    /// What an action carried out changes in the status at once (when
    /// private DNS verification was asked for).
    fn carried_out(&self, _action: &Self::Action, _status: &mut Self::Status, _scope: &Scope) {}

    /// Better advice than the error code's for a failed action.
    fn advise(
        &self,
        _action: &Self::Action,
        _error: &super::facts::AwsError,
        _desired: &Self::Desired,
        _observed: &Self::Observed,
    ) -> Option<String> {
        None
    }

    /// What the plan holds once what it waits for has happened (the
    /// service exists, the endpoint asked to connect): what `plan` shows
    /// after the actions of now; `run` plans them when it comes to them.
    fn eventually(&self, _desired: &Self::Desired, _observed: &Self::Observed, _scope: &Scope) -> Vec<Self::Action> {
        Vec::new()
    }

    /// What `plan` notes about what AWS holds (what it found, what AWS
    /// will not let the operator change).
    fn notes(&self, _observed: &Self::Observed) -> Vec<String> {
        Vec::new()
    }

    /// What `plan` warns of once AWS holds the desired state.
    fn warnings(&self, _desired: &Self::Desired, _observed: &Self::Observed) -> Vec<String> {
        Vec::new()
    }

    /// Stage 5: the status fields from what AWS holds (also after a failure).
    fn fill(&self, observed: &Self::Observed, desired: Option<&Self::Desired>, status: &mut Self::Status);

    /// Stage 5: the conditions, once AWS holds the plan's outcome.
    fn conclude(
        &self,
        refs: &Self::Refs,
        observed: &Self::Observed,
        desired: &Self::Desired,
        scope: &Scope,
        status: &mut Self::Status,
    ) -> Result<Settled, Error>;
}

/// A resource an object owns, as observation finds it: by the id the spec
/// adopts, by the id its status recorded, or by its ownership tags.
pub trait Owned: Sized + Send + Sync + Clone {
    /// `endpoint`, `endpoint service`: for messages.
    const WHAT: &'static str;
    /// The word for it in "another object's …".
    const SHORT: &'static str;
    /// Its AWS id.
    fn id(&self) -> &str;
    /// Its tags.
    fn tags(&self) -> &std::collections::BTreeMap<String, String>;
    /// By id, from a snapshot no older than `age`.
    fn by_id<A: AwsReads>(aws: &A, id: &str, age: Duration) -> impl Future<Output = ReadResult<Self>> + Send;
    /// By id, read now.
    fn fresh<A: AwsReads>(aws: &A, id: &str) -> impl Future<Output = ReadResult<Self>> + Send;
    /// By the owner's ownership tags, from a snapshot.
    fn owned<A: AwsReads>(aws: &A, owner: &Owner, age: Duration) -> impl Future<Output = ReadResult<Self>> + Send;
    /// By the owner's ownership tags, read now.
    fn fresh_owned<A: AwsReads>(aws: &A, owner: &Owner) -> impl Future<Output = ReadResult<Self>> + Send;
}

/// What one AWS lookup of a resource answers.
pub type ReadResult<T> = Result<Option<T>, super::facts::AwsError>;

/// What observation found of the object's resource.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The resource, when there is one.
    pub resource: Option<T>,
    /// The id recorded in status, when AWS no longer has it (deleted out of
    /// band): the next creation takes a new client token.
    pub gone: Option<String>,
}

/// Find the resource an object manages: the id the spec adopts (decided
/// from AWS as it is now, never a listing up to a resync old: another
/// object may have claimed it since), the id in status, or the one tagged
/// with the object's identity (after a crash between create and status
/// write, or when the recorded resource was deleted outside the operator).
/// One that carries another object's ownership tags is never taken.
/// `missing` is the error for an adopted id AWS does not have.
pub async fn find_owned<T: Owned, A: AwsReads>(
    aws: &A,
    owner: &Owner,
    adopt: Option<&str>,
    recorded: Option<&str>,
    age: Duration,
    missing: impl FnOnce(&str) -> Error + Send,
) -> Result<Found<T>, Error> {
    use super::tags::Ownership;
    let found = match (adopt, recorded) {
        (Some(adopt), _) => {
            let cached = T::by_id(aws, adopt, age).await?;
            let found = match cached {
                Some(r) if owner.ownership(r.tags()) == Ownership::Ours => Some(r),
                _ => T::fresh(aws, adopt).await?,
            };
            let Some(found) = found else { return Err(missing(adopt)) };
            Found { resource: Some(found), gone: None }
        }
        (None, Some(recorded)) => match T::by_id(aws, recorded, age).await? {
            Some(found) => Found { resource: Some(found), gone: None },
            None => {
                let replacement = T::fresh_owned(aws, owner).await?;
                Found { resource: replacement.filter(|r| r.id() != recorded), gone: Some(recorded.to_string()) }
            }
        },
        (None, None) => Found { resource: T::owned(aws, owner, age).await?, gone: None },
    };
    if let Some(r) = &found.resource
        && let Ownership::Other(who) = owner.ownership(r.tags())
    {
        return Err(Error::Refused(super::error::Refusal {
            reason: "OwnedByAnotherObject",
            message: format!(
                "{} {} carries the ownership tags of {who}: the operator never adopts or changes another object's {short}; adopt {a} {short} no object manages, or release it from its object first (deletionPolicy: Retain removes the tags)",
                T::WHAT,
                r.id(),
                short = T::SHORT,
                a = if T::SHORT.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" },
            ),
        }));
    }
    Ok(found)
}

impl Owned for super::facts::ObservedEndpoint {
    const WHAT: &'static str = "endpoint";
    const SHORT: &'static str = "endpoint";

    fn id(&self) -> &str {
        &self.id
    }

    fn tags(&self) -> &std::collections::BTreeMap<String, String> {
        &self.tags
    }

    async fn by_id<A: AwsReads>(aws: &A, id: &str, age: Duration) -> ReadResult<Self> {
        aws.endpoint(id, age).await
    }

    async fn fresh<A: AwsReads>(aws: &A, id: &str) -> ReadResult<Self> {
        aws.find_endpoint(id).await
    }

    async fn owned<A: AwsReads>(aws: &A, owner: &Owner, age: Duration) -> ReadResult<Self> {
        aws.owned_endpoint(owner, age).await
    }

    async fn fresh_owned<A: AwsReads>(aws: &A, owner: &Owner) -> ReadResult<Self> {
        aws.find_owned_endpoint(owner).await
    }
}

impl Owned for super::facts::ObservedService {
    const WHAT: &'static str = "endpoint service";
    const SHORT: &'static str = "service";

    fn id(&self) -> &str {
        &self.id
    }

    fn tags(&self) -> &std::collections::BTreeMap<String, String> {
        &self.tags
    }

    async fn by_id<A: AwsReads>(aws: &A, id: &str, age: Duration) -> ReadResult<Self> {
        aws.service(id, age).await
    }

    async fn fresh<A: AwsReads>(aws: &A, id: &str) -> ReadResult<Self> {
        aws.find_service(id).await
    }

    async fn owned<A: AwsReads>(aws: &A, owner: &Owner, age: Duration) -> ReadResult<Self> {
        aws.owned_service(owner, age).await
    }

    async fn fresh_owned<A: AwsReads>(aws: &A, owner: &Owner) -> ReadResult<Self> {
        aws.find_owned_service(owner).await
    }
}
