//! The shared observer of one (identity, region): one paginated Describe per
//! kind — endpoints, service configurations, connections, notifications,
//! load balancers — serves every object of that account and region.
//! Concurrent reconciles coalesce onto one in-flight read; a write updates
//! only what it touched; a snapshot older than the age a reconcile asks for
//! (the resync interval for a decision, less while AWS is still moving) is
//! read again. What a snapshot lacks is confirmed with a targeted Describe
//! before anyone acts on its absence, so a read that missed a resource just
//! created (AWS's reads are eventually consistent) never leads to a second
//! one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::AwsError;

use crate::plan::facts::{
    ObservedConnection, ObservedEndpoint, ObservedLoadBalancer, ObservedNotification, ObservedService,
};
use crate::plan::tags::{OWNER_CLUSTER, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID, Owner};

/// A hash of the (cluster, namespace, name) a resource's tags name, when
/// they name a cluster.
fn name_key(tags: &std::collections::BTreeMap<String, String>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let cluster = tags.get(OWNER_CLUSTER)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (cluster, tags.get(OWNER_NAMESPACE)?, tags.get(OWNER_NAME)?).hash(&mut h);
    Some(h.finish())
}

/// One value read from AWS, shared until it is older than callers accept.
pub struct Cached<T> {
    slot: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self { slot: tokio::sync::Mutex::new(None) }
    }
}

impl<T> Cached<T> {
    /// The value, read again by `load` when it is older than `max_age`.
    /// Callers that arrive while a read is in flight wait for it and share
    /// its answer.
    pub async fn get<F, Fut>(&self, max_age: Duration, load: F) -> Result<Arc<T>, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let asked = Instant::now();
        let mut slot = self.slot.lock().await;
        if let Some((taken, value)) = slot.as_ref()
            && (taken.elapsed() <= max_age || *taken >= asked)
        {
            return Ok(value.clone());
        }
        // Let the old value go before reading the new one: both at once
        // would double the memory a 10,000-endpoint snapshot takes.
        *slot = None;
        let started = Instant::now();
        let value = Arc::new(load().await?);
        *slot = Some((started, value.clone()));
        Ok(value)
    }

    /// Change a value that changes in place (an [`Index`]) for a write the
    /// operator made, if one was read: those holding it see the change.
    pub async fn modify(&self, change: impl FnOnce(&T)) {
        if let Some((_, value)) = self.slot.lock().await.as_ref() {
            change(value);
        }
    }

    /// The age of the value, if one was read.
    pub async fn age(&self) -> Option<Duration> {
        self.slot.lock().await.as_ref().map(|(taken, _)| taken.elapsed())
    }
}

impl<T: Clone> Cached<T> {
    /// Change the value (a write the operator made), if one was read;
    /// those holding the old value keep it.
    pub async fn update(&self, change: impl FnOnce(&mut T)) {
        let mut slot = self.slot.lock().await;
        if let Some((_, value)) = slot.as_mut() {
            change(Arc::make_mut(value));
        }
    }
}

/// Resources by id, and by the ownership tag of the object that made them.
/// Each is kept packed (its JSON, one allocation) and unpacked when asked
/// for: an endpoint takes about a quarter of the memory it takes unpacked,
/// which matters at 10,000 of them. A write the operator made changes the
/// index in place ([`Cached::modify`]), so no copy of the whole listing is
/// made while reconciles still hold it.
#[derive(Debug)]
pub struct Index<T> {
    inner: std::sync::Mutex<Packed>,
    kind: std::marker::PhantomData<fn() -> T>,
}

#[derive(Debug, Default)]
struct Packed {
    /// Each resource's JSON, by AWS id.
    by_id: HashMap<String, Box<[u8]>>,
    /// AWS id by the owning object's UID.
    by_owner: HashMap<String, String>,
    /// AWS id by a hash of the owner's (cluster, namespace, name), for
    /// resources tagged with a cluster: a cluster rebuilt from Git finds
    /// its resources by them (its objects have new UIDs).
    by_name: HashMap<u64, String>,
    /// Where the next resource is packed.
    buffer: Vec<u8>,
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Self { inner: std::sync::Mutex::default(), kind: std::marker::PhantomData }
    }
}

/// What an [`Index`] holds: an id and tags.
pub trait Indexed: serde::Serialize + serde::de::DeserializeOwned {
    /// AWS id.
    fn id(&self) -> &str;
    /// Tags.
    fn tags(&self) -> &std::collections::BTreeMap<String, String>;
}

impl Indexed for ObservedEndpoint {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &std::collections::BTreeMap<String, String> {
        &self.tags
    }
}

impl Indexed for ObservedService {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &std::collections::BTreeMap<String, String> {
        &self.tags
    }
}

impl<T: Indexed> Index<T> {
    /// Index a listing.
    pub fn of(items: Vec<T>) -> Self {
        let index = Self::default();
        index.packed().by_id.reserve(items.len());
        for item in items {
            index.put(item);
        }
        index
    }

    /// The packed resources; a lock a panic left behind still holds them.
    fn packed(&self) -> std::sync::MutexGuard<'_, Packed> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add or replace one resource.
    pub fn put(&self, item: T) {
        let mut p = self.packed();
        // Written into a reused buffer, then copied at its exact size: one
        // allocation per resource, no growth left behind.
        p.buffer.clear();
        if serde_json::to_writer(&mut p.buffer, &item).is_err() {
            return;
        }
        let packed = Box::from(p.buffer.as_slice());
        Self::remove_from(&mut p, item.id());
        if let Some(uid) = item.tags().get(OWNER_UID) {
            p.by_owner.insert(uid.clone(), item.id().to_string());
        }
        if let Some(key) = name_key(item.tags()) {
            p.by_name.insert(key, item.id().to_string());
        }
        p.by_id.insert(item.id().to_string(), packed);
    }

    /// Drop one resource.
    pub fn remove(&self, id: &str) {
        Self::remove_from(&mut self.packed(), id);
    }

    fn remove_from(p: &mut Packed, id: &str) {
        if let Some(item) = Self::unpack(p, id) {
            if let Some(uid) = item.tags().get(OWNER_UID)
                && p.by_owner.get(uid).is_some_and(|owned| owned == id)
            {
                p.by_owner.remove(uid);
            }
            if let Some(key) = name_key(item.tags())
                && p.by_name.get(&key).is_some_and(|owned| owned == id)
            {
                p.by_name.remove(&key);
            }
        }
        p.by_id.remove(id);
    }

    fn unpack(p: &Packed, id: &str) -> Option<T> {
        p.by_id.get(id).and_then(|packed| serde_json::from_slice(packed).ok())
    }

    /// The resource with AWS id `id`.
    pub fn get(&self, id: &str) -> Option<T> {
        Self::unpack(&self.packed(), id)
    }

    /// Whether the listing holds `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.packed().by_id.contains_key(id)
    }

    /// The resource `owner` owns ([`Owner::ownership`]): by its UID, or by
    /// its cluster, namespace and name.
    pub fn owned_by(&self, owner: &Owner) -> Option<T> {
        let p = self.packed();
        let found = |id: &String| Self::unpack(&p, id).filter(|t| owner.owns(t.tags()));
        p.by_owner.get(&owner.uid).and_then(found).or_else(|| {
            let key = name_key(&owner.tags())?;
            p.by_name.get(&key).and_then(found)
        })
    }

    /// How many resources the listing holds.
    pub fn len(&self) -> usize {
        self.packed().by_id.len()
    }

    /// Whether the listing is empty.
    pub fn is_empty(&self) -> bool {
        self.packed().by_id.is_empty()
    }
}

/// Connections or notifications grouped by service id.
pub type ByService<T> = HashMap<String, Vec<T>>;

/// A kept fact: when it was read, and its value.
type Kept = (Instant, Arc<dyn std::any::Any + Send + Sync>);

/// Small facts (a service's zones, a VPC's attributes, a group's rules)
/// kept for a while by key: many objects share them.
#[derive(Default)]
pub struct Memo {
    entries: std::sync::Mutex<HashMap<String, Kept>>,
}

impl Memo {
    /// The value kept under `key`, if younger than `max_age`.
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str, max_age: Duration) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        if at.elapsed() > max_age {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    /// Keep a value.
    pub fn put<T: Send + Sync + 'static>(&self, key: String, value: T) {
        if let Ok(mut entries) = self.entries.lock() {
            // Forget what is older than a day, so keys of deleted resources go.
            entries.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(86_400));
            entries.insert(key, (Instant::now(), Arc::new(value)));
        }
    }
}

/// The snapshots of one (identity, region).
#[derive(Default)]
pub struct Observer {
    /// Facts many objects share.
    pub memo: Memo,
    /// Every VPC endpoint of the account in the region.
    pub endpoints: Cached<Index<ObservedEndpoint>>,
    /// Every endpoint service configuration.
    pub services: Cached<Index<ObservedService>>,
    /// Every connection to the account's services.
    pub connections: Cached<ByService<ObservedConnection>>,
    /// Every connection notification of the account's services.
    pub notifications: Cached<ByService<ObservedNotification>>,
    /// Every load balancer, by ARN.
    pub load_balancers: Cached<HashMap<String, ObservedLoadBalancer>>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_readers_share_one_read_and_old_values_are_read_again() {
        let cached: Arc<Cached<u32>> = Arc::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, AwsError>(reads.fetch_add(1, Ordering::SeqCst) as u32 + 1)
        };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (cached, reads) = (cached.clone(), reads.clone());
                tokio::spawn(async move { *cached.get(Duration::from_secs(60), || read(reads)).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "twenty readers, one read");
        // A caller that accepts nothing older than 10 ms reads again.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(*cached.get(Duration::from_millis(10), || read(reads.clone())).await.unwrap(), 2);
        // A write updates the value in place.
        cached.update(|v| *v = 7).await;
        assert_eq!(*cached.get(Duration::from_secs(60), || read(reads.clone())).await.unwrap(), 7);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn indexes_find_resources_by_id_and_owner() {
        let mut e = ObservedEndpoint { id: "vpce-1".into(), ..Default::default() };
        e.tags.insert(OWNER_UID.into(), "uid-1".into());
        let index = Index::of(vec![e.clone(), ObservedEndpoint { id: "vpce-2".into(), ..Default::default() }]);
        let owner = Owner { cluster: "c1".into(), namespace: "ns".into(), name: "a".into(), uid: "uid-1".into() };
        assert_eq!(index.owned_by(&owner).as_ref(), Some(&e), "unpacked as it was put");
        // Rebuilt from Git: the same cluster, namespace and name, a new UID.
        let mut tagged = ObservedEndpoint { id: "vpce-3".into(), ..Default::default() };
        tagged.tags = Owner { uid: "uid-old".into(), name: "b".into(), ..owner.clone() }.tags();
        index.put(tagged.clone());
        let rebuilt = Owner { uid: "uid-new".into(), name: "b".into(), ..owner.clone() };
        assert_eq!(index.owned_by(&rebuilt).map(|t| t.id), Some("vpce-3".to_string()));
        let elsewhere = Owner { cluster: "c2".into(), ..rebuilt.clone() };
        assert!(index.owned_by(&elsewhere).is_none(), "another cluster's object of that name");
        index.remove("vpce-3");
        assert!(index.owned_by(&rebuilt).is_none());
        assert!(index.contains("vpce-2"));
        // A replacement keeps one entry; a removal forgets the owner too.
        e.state = "deleting".into();
        index.put(e);
        assert_eq!((index.len(), index.get("vpce-1").unwrap().state.as_str()), (2, "deleting"));
        assert_eq!(index.owned_by(&owner).map(|t| t.state), Some("deleting".to_string()));
        index.remove("vpce-1");
        assert!(index.owned_by(&owner).is_none() && index.get("vpce-1").is_none());
    }

    #[tokio::test]
    async fn a_write_changes_a_held_index_in_place() {
        let cached: Cached<Index<ObservedEndpoint>> = Cached::default();
        let e = ObservedEndpoint { id: "vpce-1".into(), ..Default::default() };
        let load = || async { Ok(Index::of(vec![e.clone()])) };
        let held = cached.get(Duration::from_secs(60), load).await.unwrap();
        cached.modify(|i| i.put(ObservedEndpoint { id: "vpce-2".into(), ..Default::default() })).await;
        let now = cached.get(Duration::from_secs(60), || async { unreachable!("fresh") }).await.unwrap();
        assert!(Arc::ptr_eq(&held, &now), "no copy of the listing");
        assert!(held.contains("vpce-2") && held.len() == 2, "those holding it see the write");
    }
}
