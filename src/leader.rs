//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): only
//! the leader reconciles. The moment the lease is lost — another instance
//! holds it, or it was not renewed in time — the mutation gate closes (no
//! AWS change goes out, even from a reconcile in flight) and the controllers
//! stop; a standby takes over once the lease expires. A graceful shutdown
//! releases the lease, so the standby takes over at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube_lease_manager::LeaseManagerBuilder;

use crate::aws::MutationGate;
use crate::http::Health;
use crate::metrics::Metrics;

/// Where and how instances elect their leader.
#[derive(Debug, Clone)]
pub struct Election {
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// This instance's identity (the pod name).
    pub identity: String,
    /// How long a lease stays valid after its last renewal: the longest a
    /// standby waits when a leader stops renewing.
    pub duration: Duration,
    /// The leader renews this long before the lease expires.
    pub grace: Duration,
}

/// What an instance reports about its role.
#[derive(Clone)]
pub struct Role {
    /// Closed while not leading.
    pub gate: MutationGate,
    /// /readyz.
    pub health: Arc<Health>,
    /// leader_election_master_status.
    pub metrics: Arc<Metrics>,
    /// The Lease's name (the metric's `name` label).
    pub lease: String,
}

impl Role {
    fn set(&self, leading: bool) {
        self.gate.set(leading);
        self.health.set_leading(leading);
        self.metrics.leading(&self.lease, leading);
    }
}

/// Aborts a task when dropped: an instance that stops without a graceful
/// shutdown stops renewing (and does not release) its lease, and its
/// controllers stop with it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Closes the gate when dropped, however `lead` ends.
struct StandbyOnDrop(Role);

impl Drop for StandbyOnDrop {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Run `work` while this instance leads, stop it when the lease is lost,
/// and start it again when the lease comes back; until `shutdown`
/// completes, then release the lease.
pub async fn lead<W, F>(
    client: kube::Client,
    election: Election,
    role: Role,
    work: W,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String>
where
    W: Fn() -> F,
    F: Future<Output = ()> + Send + 'static,
{
    role.set(false);
    let seconds = |d: Duration| d.as_secs().max(1);
    let manager = LeaseManagerBuilder::new(client.clone(), &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(seconds(election.duration))
        .with_grace(seconds(election.grace))
        .build()
        .await
        .map_err(|e| format!("leader election lease {}/{}: {e}", election.namespace, election.lease_name))?;
    let (mut leading, task) = manager.watch().await;
    let guard = AbortOnDrop(task.abort_handle());
    let _standby = StandbyOnDrop(role.clone());
    let leases: Api<Lease> = Api::namespaced(client, &election.namespace);
    tokio::pin!(shutdown);
    loop {
        // Standby until the lease is ours.
        loop {
            if *leading.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = leading.changed() => changed.map_err(|_| "the lease manager stopped".to_string())?,
                () = &mut shutdown => return Ok(()),
            }
        }
        tracing::info!(identity = %election.identity, lease = %election.lease_name, "leading: reconciling");
        role.set(true);
        let worker = tokio::spawn(work());
        let _stop_worker = AbortOnDrop(worker.abort_handle());
        let outcome = tokio::select! {
            lost = lost(&mut leading) => Some(lost),
            lost = expired(&leases, &election) => Some(lost),
            () = &mut shutdown => None,
        };
        role.set(false);
        worker.abort();
        let _ = worker.await;
        match outcome {
            Some(why) => tracing::warn!(identity = %election.identity, %why, "lost the lease: stopped reconciling"),
            None => {
                // Graceful: release the lease so a standby takes over now.
                std::mem::forget(guard);
                drop(leading);
                let _ = task.await;
                return Ok(());
            }
        }
    }
}

async fn lost(leading: &mut tokio::sync::watch::Receiver<bool>) -> String {
    loop {
        if leading.changed().await.is_err() {
            return "the lease manager stopped".into();
        }
        if !*leading.borrow_and_update() {
            return "another instance holds the lease".into();
        }
    }
}

/// Resolves when this instance's hold on the lease can no longer be
/// confirmed: the Lease names another holder, its renewal is overdue, or
/// the API server cannot be read for longer than the lease stays valid.
async fn expired(leases: &Api<Lease>, election: &Election) -> String {
    let period = (election.grace / 2).max(Duration::from_millis(200));
    let mut last_confirmed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match leases.get_opt(&election.lease_name).await {
            Ok(Some(lease)) => {
                let spec = lease.spec.unwrap_or_default();
                if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
                    return format!("the lease names {} as holder", spec.holder_identity.unwrap_or_default());
                }
                let renewed = spec.renew_time.map(|t| t.0);
                let valid = spec.lease_duration_seconds.map(i64::from).unwrap_or(0);
                let now = jiff::Timestamp::now();
                match renewed {
                    Some(at) if now.as_second() <= at.as_second() + valid => {
                        last_confirmed = tokio::time::Instant::now()
                    }
                    _ => return "the lease was not renewed in time".into(),
                }
            }
            Ok(None) => return "the lease was deleted".into(),
            Err(e) if last_confirmed.elapsed() > election.duration.saturating_sub(election.grace) => {
                return format!("the lease could not be confirmed in time: {e}");
            }
            Err(_) => {}
        }
    }
}
