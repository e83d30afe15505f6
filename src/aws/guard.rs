//! The ownership guard: the one door every mutating AWS call of every kind
//! goes through, in reconcile and in cleanup alike.
//!
//! The calls that change AWS ([`RegionClients::apply_service_action`],
//! [`RegionClients::apply_endpoint_action`],
//! [`RegionClients::release_ownership`]) each take a [`Permit`], and only
//! [`RegionClients::authorize`] makes one: it reads the resource fresh, by
//! id, with the clients of the object's own identity (never a cached
//! listing), and decides from the full owner in its tags — cluster,
//! namespace, name, uid — by [`decide`]. A new path that changes AWS cannot
//! skip it: without a permit it does not compile.

use std::collections::BTreeMap;

use super::RegionClients;
use super::error::AwsError;
pub use crate::plan::tags::Claim;
use crate::plan::tags::{Owner, Ownership, may_decide_connections};

/// Leave to change one resource (or to create the owner's one).
#[derive(Debug)]
pub struct Permit {
    /// The resource the permit is for; None: a creation.
    resource: Option<String>,
}

impl Permit {
    /// The permit for the resource a creation made: the rest of the same
    /// plan acts on it. Only a creation's permit turns into one.
    pub fn created(self, id: &str) -> Permit {
        match self.resource {
            None => Permit { resource: Some(id.to_string()) },
            Some(_) => self,
        }
    }

    /// Err unless this permit is for `id` (None: a creation).
    pub(crate) fn covers(&self, action: &'static str, id: Option<&str>) -> Result<(), AwsError> {
        if self.resource.as_deref() == id {
            return Ok(());
        }
        Err(AwsError::unsuccessful(
            action,
            Some("OwnershipGuard"),
            Some(&format!(
                "refused by the ownership guard: the permit is for {}, not {}",
                self.resource.as_deref().unwrap_or("a creation"),
                id.unwrap_or("a creation")
            )),
        ))
    }
}

/// Why the guard gave no permit.
#[derive(Debug)]
pub enum Denied {
    /// The fresh read failed.
    Aws(AwsError),
    /// The resource is not the object's to change: a condition reason and
    /// its message.
    Refused(&'static str, String),
}

/// The decision, from the owner, the claim, and the tags of the resource as
/// read now (None: AWS does not have it; for a creation, none of the
/// owner's exists).
pub fn decide(owner: &Owner, claim: &Claim<'_>, found: Option<&BTreeMap<String, String>>) -> Result<(), Denied> {
    let refused = |message: String| Err(Denied::Refused("OwnedByAnotherObject", message));
    match (claim, found) {
        (Claim::CreateService | Claim::CreateEndpoint, None) => Ok(()),
        (Claim::CreateService | Claim::CreateEndpoint, Some(_)) => Err(Denied::Refused(
            "AlreadyCreated",
            "a resource of this object already exists in AWS: the next look adopts it rather than create a second"
                .to_string(),
        )),
        // Gone: the call itself answers NotFound, which deletions take as done.
        (Claim::Change { .. } | Claim::Connections { .. }, None) => Ok(()),
        (Claim::Change { id, adopting }, Some(tags)) => match owner.ownership(tags) {
            Ownership::Ours => Ok(()),
            Ownership::Unowned if *adopting => Ok(()),
            Ownership::Unowned => refused(format!(
                "{id} carries no ownership tags of this object: only a resource named in the spec to adopt is taken"
            )),
            Ownership::Other(who) => refused(format!("{id} belongs to {who}")),
        },
        (Claim::Connections { service_id, local_owner }, Some(tags)) => {
            may_decide_connections(tags, &owner.cluster, &owner.namespace, *local_owner)
                .or_else(|who| refused(format!("endpoint service {service_id} belongs to {who}")))
        }
    }
}

impl RegionClients {
    /// The guard: read the resource of `claim` fresh, by id (for a creation,
    /// look for one the owner already has), and decide by [`decide`].
    pub async fn authorize(&self, owner: &Owner, claim: Claim<'_>) -> Result<Permit, Denied> {
        let (resource, tags) = match claim {
            Claim::CreateService => (None, self.find_owned_service(owner).await.map_err(Denied::Aws)?.map(|s| s.tags)),
            Claim::CreateEndpoint => {
                (None, self.find_owned_endpoint(owner).await.map_err(Denied::Aws)?.map(|e| e.tags))
            }
            Claim::Change { id, .. } if id.starts_with("vpce-svc-") => {
                (Some(id), self.find_service(id).await.map_err(Denied::Aws)?.map(|s| s.tags))
            }
            Claim::Change { id, .. } => (Some(id), self.find_endpoint(id).await.map_err(Denied::Aws)?.map(|e| e.tags)),
            Claim::Connections { service_id, .. } => {
                (Some(service_id), self.find_service(service_id).await.map_err(Denied::Aws)?.map(|s| s.tags))
            }
        };
        decide(owner, &claim, tags.as_ref())?;
        Ok(Permit { resource: resource.map(str::to_string) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tags::{MANAGED_BY, MANAGED_BY_VALUE, OWNER_CLUSTER};

    fn owner() -> Owner {
        Owner {
            cluster: "c1".into(),
            namespace: "team-a".into(),
            name: "api".into(),
            uid: "0b5c1e4e-2a6f-4d8e-9f3c-7a1b2c3d4e5f".into(),
        }
    }

    fn reason(r: Result<(), Denied>) -> &'static str {
        match r {
            Ok(()) => "allowed",
            Err(Denied::Refused(reason, _)) => reason,
            Err(Denied::Aws(_)) => "aws",
        }
    }

    /// The decision table: claim × what a fresh read found.
    #[test]
    fn the_guard_decides_by_claim_and_the_tags_read_now() {
        let o = owner();
        let ours = o.tags();
        let theirs = Owner { namespace: "team-b".into(), uid: "other".into(), ..o.clone() }.tags();
        let other_cluster = Owner { cluster: "c2".into(), ..o.clone() }.tags();
        let untagged = BTreeMap::from([("team".to_string(), "x".to_string())]);
        let look_alike = BTreeMap::from([(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string())]);
        let change = Claim::Change { id: "vpce-0123456789abcdef0", adopting: false };
        let adopt = Claim::Change { id: "vpce-0123456789abcdef0", adopting: true };
        type Case<'a> = (Claim<'a>, Option<&'a BTreeMap<String, String>>, &'static str);
        let cases: Vec<Case<'_>> = vec![
            (Claim::CreateEndpoint, None, "allowed"),
            (Claim::CreateService, Some(&ours), "AlreadyCreated"),
            (change, None, "allowed"),
            (change, Some(&ours), "allowed"),
            (change, Some(&untagged), "OwnedByAnotherObject"),
            (change, Some(&theirs), "OwnedByAnotherObject"),
            (change, Some(&other_cluster), "OwnedByAnotherObject"),
            (change, Some(&look_alike), "OwnedByAnotherObject"),
            (adopt, Some(&untagged), "allowed"),
            (adopt, Some(&theirs), "OwnedByAnotherObject"),
            (adopt, Some(&look_alike), "OwnedByAnotherObject"),
        ];
        for (claim, found, want) in cases {
            assert_eq!(reason(decide(&o, &claim, found)), want, "{claim:?} on {found:?}");
        }
        // Connections: the namespace's own EndpointService's, or no one's.
        let service = Owner { name: "svc".into(), uid: "svc-uid".into(), ..o.clone() }.tags();
        let mine = Claim::Connections { service_id: "vpce-svc-1", local_owner: Some("svc-uid") };
        let not_here = Claim::Connections { service_id: "vpce-svc-1", local_owner: None };
        assert_eq!(reason(decide(&o, &mine, Some(&service))), "allowed");
        assert_eq!(reason(decide(&o, &not_here, Some(&service))), "OwnedByAnotherObject");
        assert_eq!(reason(decide(&o, &not_here, Some(&untagged))), "allowed", "unmanaged: adoption rules apply");
        let mut elsewhere = service.clone();
        elsewhere.insert(OWNER_CLUSTER.to_string(), "c2".into());
        assert_eq!(reason(decide(&o, &mine, Some(&elsewhere))), "OwnedByAnotherObject");
    }

    #[test]
    fn a_permit_covers_its_resource_only() {
        let create = Permit { resource: None };
        assert!(create.covers("CreateVpcEndpoint", None).is_ok());
        assert!(create.covers("ModifyVpcEndpoint", Some("vpce-1")).is_err());
        let made = create.created("vpce-1");
        assert!(made.covers("ModifyVpcEndpoint", Some("vpce-1")).is_ok());
        assert!(made.covers("ModifyVpcEndpoint", Some("vpce-2")).is_err());
        let err = made.covers("DeleteVpcEndpoints", None).unwrap_err();
        assert!(err.message.contains("ownership guard"), "{err:?}");
        // A permit for a resource does not become another's.
        assert!(made.created("vpce-2").covers("ModifyVpcEndpoint", Some("vpce-2")).is_err());
    }
}
