//! Tags: ownership tags the operator adds, and the diff of user tags.

use std::collections::BTreeMap;

/// Tag key marking a resource as created by this operator.
pub const MANAGED_BY: &str = "privatelink.dev/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "privatelink-operator";
/// Tag key holding the owning object's namespace.
pub const OWNER_NAMESPACE: &str = "privatelink.dev/namespace";
/// Tag key holding the owning object's name.
pub const OWNER_NAME: &str = "privatelink.dev/name";
/// Tag key holding the owning object's UID: finds a resource again after a
/// crash between its creation and the status write.
pub const OWNER_UID: &str = "privatelink.dev/uid";
/// Tag key holding the id of the cluster whose object owns the resource:
/// two clusters sharing an account never take each other's resources, and
/// a cluster rebuilt from Git (new UIDs) finds its own by (cluster,
/// namespace, name).
pub const OWNER_CLUSTER: &str = "privatelink.dev/cluster";

/// The Kubernetes object that owns an AWS resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The operator's cluster id (`--cluster-id`); empty where no cluster
    /// is known (an offline `plan`): then no cluster tag is written or asked.
    pub cluster: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// UID of the object.
    pub uid: String,
}

impl Owner {
    /// The ownership tags written on everything the operator creates or
    /// adopts: managed-by, cluster, namespace, name, uid.
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
            (OWNER_NAMESPACE.to_string(), self.namespace.clone()),
            (OWNER_NAME.to_string(), self.name.clone()),
            (OWNER_UID.to_string(), self.uid.clone()),
        ]);
        if !self.cluster.is_empty() {
            tags.insert(OWNER_CLUSTER.to_string(), self.cluster.clone());
        }
        tags
    }

    /// True when `tags` say this object owns the resource.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        self.ownership(tags) == Ownership::Ours
    }

    /// Whose the resource with `tags` is, as far as this object is
    /// concerned. Ours: this object's uid (in this cluster, or with no
    /// cluster tag yet: a resource tagged before cluster ids, which the
    /// object that made it takes over), or this cluster's object of the same
    /// namespace and name (the cluster rebuilt from Git, objects with new
    /// UIDs). Anything else carrying ownership tags is another's.
    pub fn ownership(&self, tags: &BTreeMap<String, String>) -> Ownership {
        let cluster = tags.get(OWNER_CLUSTER);
        let same_cluster = match cluster {
            Some(c) => !self.cluster.is_empty() && *c == self.cluster,
            None => false,
        };
        let uid = tags.get(OWNER_UID);
        if uid == Some(&self.uid) && (cluster.is_none() || self.cluster.is_empty() || same_cluster) {
            return Ownership::Ours;
        }
        if same_cluster
            && tags.get(OWNER_NAMESPACE) == Some(&self.namespace)
            && tags.get(OWNER_NAME) == Some(&self.name)
        {
            return Ownership::Ours;
        }
        if uid.is_none() && cluster.is_none() && !tags.contains_key(MANAGED_BY) {
            return Ownership::Unowned;
        }
        Ownership::Other(format!(
            "{}{}/{} (uid {})",
            cluster.map(|c| format!("cluster {c}: ")).unwrap_or_default(),
            tags.get(OWNER_NAMESPACE).map(String::as_str).unwrap_or("?"),
            tags.get(OWNER_NAME).map(String::as_str).unwrap_or("?"),
            uid.map(String::as_str).unwrap_or("?")
        ))
    }

    /// An idempotency token for creating this object's resource: the same
    /// object at the same generation always sends the same token, so a
    /// restart between "create" and "write status" cannot make a duplicate.
    /// AWS allows at most 64 ASCII characters; a UID is 36.
    pub fn client_token(&self, generation: i64) -> String {
        format!("{}-{}", self.uid, generation).chars().take(64).collect()
    }

    /// The token for creating a replacement of `gone_id`, a resource of this
    /// object that AWS no longer has (deleted outside the operator). AWS
    /// answers a reused token with the original resource even after its
    /// deletion, so the replacement needs a new token; deriving it from the
    /// gone resource keeps it stable across restarts (no duplicate either).
    pub fn client_token_replacing(&self, generation: i64, gone_id: &str) -> String {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let hash =
            gone_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("{}-{}-{:08x}", self.uid, generation, hash as u32).chars().take(64).collect()
    }
}

/// Whose an AWS resource is, by its ownership tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// It carries no ownership tags of this operator.
    Unowned,
    /// It carries this object's UID.
    Ours,
    /// It carries another object's ownership tags (described).
    Other(String),
}

/// Whether an object in `namespace` may decide the connections of an
/// endpoint service whose tags are `tags`. `local_owner` is the uid of the
/// EndpointService of `namespace` named by the tags' owner name, if one
/// exists. Allowed: a service no operator object manages (adopted by id,
/// under the adoption rules), or one that EndpointService owns — matched by
/// namespace, name and uid, so a look-alike tag (`managed-by` alone, a
/// namespace of the same name in another cluster) is not enough. Err says
/// whose it is.
pub fn may_decide_connections(
    tags: &BTreeMap<String, String>,
    cluster: &str,
    namespace: &str,
    local_owner: Option<&str>,
) -> Result<(), String> {
    let (ns, name, uid) = (tags.get(OWNER_NAMESPACE), tags.get(OWNER_NAME), tags.get(OWNER_UID));
    let tagged_cluster = tags.get(OWNER_CLUSTER);
    if tags.get(MANAGED_BY).is_none() && tagged_cluster.is_none() && ns.is_none() && name.is_none() && uid.is_none() {
        return Ok(());
    }
    if let Some(other) = tagged_cluster.filter(|c| !cluster.is_empty() && c.as_str() != cluster) {
        return Err(format!(
            "cluster {other}: {}/{}",
            ns.map(String::as_str).unwrap_or("?"),
            name.map(String::as_str).unwrap_or("?")
        ));
    }
    let who = format!(
        "{}/{} (uid {})",
        ns.map(String::as_str).unwrap_or("?"),
        name.map(String::as_str).unwrap_or("?"),
        uid.map(String::as_str).unwrap_or("?")
    );
    match (ns, uid) {
        (Some(ns), Some(uid)) if ns == namespace && local_owner == Some(uid.as_str()) => Ok(()),
        _ => Err(who),
    }
}

/// The ownership tag keys: removed when an object lets its resource go
/// (`deletionPolicy: Retain`), so it can be adopted again.
pub fn ownership_keys() -> Vec<String> {
    [MANAGED_BY, OWNER_CLUSTER, OWNER_NAMESPACE, OWNER_NAME, OWNER_UID].iter().map(|k| k.to_string()).collect()
}

/// Whether setting `tags` takes a resource over: it gives the resource its
/// cluster tag (one tagged before there was one). Those tags are written
/// before any other change, since the shipped IAM policy lets a session
/// change only what carries its own cluster's tag.
pub fn takes_over(tags: &BTreeMap<String, String>) -> bool {
    tags.contains_key(OWNER_CLUSTER)
}

/// The desired tags: the user's plus the ownership tags (which win).
pub fn desired_tags(user: &BTreeMap<String, String>, owner: &Owner) -> BTreeMap<String, String> {
    let mut tags = user.clone();
    tags.extend(owner.tags());
    tags
}

/// Tag changes: keys to set (new or changed value), and keys to delete.
/// Keys are only deleted when `authoritative` (the operator created the
/// resource); on an adopted resource other tools' tags are left alone.
/// `aws:` keys are never touched, and `privatelink.dev/` ones (ownership)
/// are only ever set here: they go when an object lets its resource go.
pub fn tag_diff(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
    authoritative: bool,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set =
        desired.iter().filter(|(k, v)| observed.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let delete = if authoritative {
        observed
            .keys()
            .filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:") && !k.starts_with("privatelink.dev/"))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    (set, delete)
}

/// How a tag change reads in a plan: `k=v k2=v2`.
pub fn describe_set(tags: &BTreeMap<String, String>) -> String {
    tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// What an object asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// Create the owner's endpoint service: none may exist for it yet.
    CreateService,
    /// Create the owner's VPC endpoint: none may exist for it yet.
    CreateEndpoint,
    /// Change, tag or delete the endpoint or service `id`: the owner's, or
    /// one no object manages that the spec adopts by this id.
    Change {
        /// `vpce-…` or `vpce-svc-…`.
        id: &'a str,
        /// The spec names `id` to adopt it (and the namespace may adopt).
        adopting: bool,
    },
    /// Accept or reject connections of the service `service_id`: one no
    /// object manages, or one the EndpointService of the owner's namespace
    /// whose uid is `local_owner` owns.
    Connections {
        /// `vpce-svc-…`.
        service_id: &'a str,
        /// The uid of the EndpointService of this namespace the service's
        /// tags name, if one exists.
        local_owner: Option<&'a str>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            cluster: "c1".into(),
            namespace: "ns".into(),
            name: "svc".into(),
            uid: "0b5c1e4e-2a6f-4d8e-9f3c-7a1b2c3d4e5f".into(),
        }
    }

    #[test]
    fn client_token_depends_on_uid_and_generation_and_fits_aws_limit() {
        let o = owner();
        assert_eq!(o.client_token(1), o.client_token(1));
        assert_ne!(o.client_token(1), o.client_token(2));
        assert!(o.client_token(i64::MAX).len() <= 64);
    }

    #[test]
    fn replacement_tokens_differ_from_the_first_and_are_stable() {
        let o = owner();
        let first = o.client_token(3);
        let again = o.client_token_replacing(3, "vpce-0123456789abcdef0");
        assert_ne!(first, again);
        assert_eq!(again, o.client_token_replacing(3, "vpce-0123456789abcdef0"));
        assert_ne!(again, o.client_token_replacing(3, "vpce-0123456789abcdef1"));
        assert!(o.client_token_replacing(i64::MAX, "x").len() <= 64);
    }

    #[test]
    fn ownership_of_tagged_resources() {
        let o = owner();
        assert_eq!(o.ownership(&BTreeMap::new()), Ownership::Unowned);
        assert_eq!(o.ownership(&o.tags()), Ownership::Ours);
        let other = Owner { namespace: "team-b".into(), name: "x".into(), uid: "other-uid".into(), ..o.clone() };
        let Ownership::Other(who) = o.ownership(&other.tags()) else { panic!() };
        assert!(who.contains("team-b/x") && who.contains("other-uid"), "{who}");
        let look_alike = BTreeMap::from([(MANAGED_BY.to_string(), "privatelink-operator".to_string())]);
        assert!(matches!(o.ownership(&look_alike), Ownership::Other(_)));
    }

    /// The decision table of cluster, namespace, name and uid.
    #[test]
    fn ownership_by_cluster_namespace_name_and_uid() {
        let o = owner();
        let with = |cluster: Option<&str>, ns: &str, name: &str, uid: &str| {
            let mut t = BTreeMap::from([
                (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
                (OWNER_NAMESPACE.to_string(), ns.to_string()),
                (OWNER_NAME.to_string(), name.to_string()),
                (OWNER_UID.to_string(), uid.to_string()),
            ]);
            if let Some(c) = cluster {
                t.insert(OWNER_CLUSTER.to_string(), c.to_string());
            }
            o.ownership(&t)
        };
        let uid = o.uid.as_str();
        // This object, in this cluster.
        assert_eq!(with(Some("c1"), "ns", "svc", uid), Ownership::Ours);
        // Tagged before cluster ids, by this object: taken over.
        assert_eq!(with(None, "ns", "svc", uid), Ownership::Ours);
        // This cluster rebuilt from Git: same namespace and name, new UID.
        assert_eq!(with(Some("c1"), "ns", "svc", "old-uid"), Ownership::Ours);
        // Another cluster's object of the same namespace and name.
        assert!(matches!(with(Some("c2"), "ns", "svc", "old-uid"), Ownership::Other(w) if w.contains("cluster c2")));
        // Even carrying this object's uid, another cluster's tag wins.
        assert!(matches!(with(Some("c2"), "ns", "svc", uid), Ownership::Other(_)));
        // Before cluster ids, another object (maybe another cluster's): not ours.
        assert!(matches!(with(None, "ns", "svc", "old-uid"), Ownership::Other(_)));
        // This cluster, another object.
        assert!(matches!(with(Some("c1"), "ns", "other", "x"), Ownership::Other(_)));
        assert!(matches!(with(Some("c1"), "team-b", "svc", "x"), Ownership::Other(_)));
        // A cluster tag alone is a claim too.
        let only_cluster = BTreeMap::from([(OWNER_CLUSTER.to_string(), "c2".to_string())]);
        assert!(matches!(o.ownership(&only_cluster), Ownership::Other(_)));
        // With no cluster known (offline plan), the uid decides.
        let offline = Owner { cluster: String::new(), ..o.clone() };
        assert_eq!(offline.ownership(&o.tags()), Ownership::Ours);
        assert!(!offline.tags().contains_key(OWNER_CLUSTER));
    }

    #[test]
    fn connections_are_decided_only_for_unmanaged_services_or_the_namespaces_own() {
        let o = owner();
        assert_eq!(
            may_decide_connections(&BTreeMap::new(), "c1", "ns", None),
            Ok(()),
            "unmanaged: adoption rules apply"
        );
        let user_only = BTreeMap::from([("team".to_string(), "a".to_string())]);
        assert_eq!(may_decide_connections(&user_only, "c1", "ns", None), Ok(()));
        assert_eq!(
            may_decide_connections(&o.tags(), "c1", "ns", Some(o.uid.as_str())),
            Ok(()),
            "its own EndpointService"
        );
        // Same namespace name, but no EndpointService of that uid here: a
        // namespace of the same name in another cluster, or a deleted object.
        let err = may_decide_connections(&o.tags(), "c1", "ns", None).unwrap_err();
        assert!(err.contains("ns/svc") && err.contains(&o.uid), "{err}");
        assert!(may_decide_connections(&o.tags(), "c1", "ns", Some("another-uid")).is_err());
        // Another namespace's, whatever this namespace holds.
        assert!(may_decide_connections(&o.tags(), "c1", "team-b", Some(o.uid.as_str())).is_err());
        // Look-alikes: managed-by alone, or a namespace tag alone.
        let managed_only = BTreeMap::from([(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string())]);
        assert!(may_decide_connections(&managed_only, "c1", "ns", Some(o.uid.as_str())).is_err());
        let ns_only = BTreeMap::from([(OWNER_NAMESPACE.to_string(), "ns".to_string())]);
        assert!(may_decide_connections(&ns_only, "c1", "ns", None).is_err());
        // Another cluster's service, though its namespace and uid look alike.
        let mut elsewhere = o.tags();
        elsewhere.insert(OWNER_CLUSTER.to_string(), "c2".to_string());
        assert!(may_decide_connections(&elsewhere, "c1", "ns", Some(o.uid.as_str())).is_err());
    }

    #[test]
    fn ownership_tags_override_user_tags() {
        let user = BTreeMap::from([("team".to_string(), "a".to_string()), (OWNER_UID.to_string(), "fake".to_string())]);
        let tags = desired_tags(&user, &owner());
        assert_eq!(tags.get(OWNER_UID), Some(&owner().uid));
        assert_eq!(tags.get("team").map(String::as_str), Some("a"));
        assert!(owner().owns(&tags));
    }

    #[test]
    fn tag_diff_sets_changed_and_deletes_only_when_authoritative() {
        let desired = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]);
        let observed = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "old".to_string()),
            ("c".to_string(), "3".to_string()),
            ("aws:cloudformation:stack-name".to_string(), "x".to_string()),
        ]);
        let (set, delete) = tag_diff(&desired, &observed, true);
        assert_eq!(set, BTreeMap::from([("b".to_string(), "2".to_string())]));
        assert_eq!(delete, vec!["c".to_string()]);
        let owned = BTreeMap::from([(OWNER_CLUSTER.to_string(), "c1".to_string())]);
        assert!(tag_diff(&desired, &owned, true).1.is_empty(), "ownership tags are never deleted by a diff");
        let (_, delete) = tag_diff(&desired, &observed, false);
        assert!(delete.is_empty());
        assert_eq!(tag_diff(&desired, &desired, true), (BTreeMap::new(), vec![]));
    }
}
