//! `privatelink-operator run`: connect to Kubernetes and AWS, check the
//! CRDs, serve the HTTP endpoints, and run the three controllers — under
//! leader election when asked.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;

use crate::api::{EndpointConnection, EndpointService, InterfaceEndpoint};
use crate::aws::AwsClients;
use crate::config::{Settings, Tenancy};
use crate::controller::{self, Context};
use crate::http::Health;
use crate::leader::{Election, Role, lead};
use crate::metrics::Metrics;

/// Read the tenancy rules from the ConfigMap `namespace`/`name`.
pub async fn read_tenancy(client: &kube::Client, namespace: &str, name: &str) -> Result<Tenancy, String> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), namespace);
    let map = api.get(name).await.map_err(|e| format!("cannot read the tenancy ConfigMap {namespace}/{name}: {e}"))?;
    Tenancy::from_config_map(&map.data.unwrap_or_default())
        .map_err(|e| format!("the tenancy ConfigMap {namespace}/{name} is invalid: {e}"))
}

/// Keep `ctx`'s tenancy rules those of the ConfigMap `namespace`/`name`
/// until the watch ends: every change applies to the next reconcile of
/// every object, without a restart. An invalid change keeps the rules in
/// force (and says why in the log and a metric-free error line); a deleted
/// ConfigMap keeps them too.
pub async fn watch_tenancy(client: kube::Client, namespace: String, name: String, ctx: Arc<Context>) {
    use futures::StreamExt;
    use kube::runtime::watcher;
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(api, config));
    while let Some(event) = events.next().await {
        let map = match event {
            Ok(watcher::Event::Apply(map) | watcher::Event::InitApply(map)) => map,
            Ok(watcher::Event::Delete(_)) => {
                tracing::error!(configmap = %format!("{namespace}/{name}"), "the tenancy ConfigMap was deleted; the rules in force stay");
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "watching the tenancy ConfigMap failed; retrying");
                continue;
            }
        };
        match Tenancy::from_config_map(&map.data.unwrap_or_default()) {
            Ok(tenancy) => {
                if *ctx.tenancy() != tenancy {
                    tracing::info!(
                        operator_credentials = %tenancy.operator_credentials,
                        adopters = %tenancy.adopters,
                        "tenancy rules changed"
                    );
                    ctx.set_tenancy(tenancy);
                }
            }
            Err(e) => tracing::error!(
                configmap = %format!("{namespace}/{name}"),
                error = %e,
                "the tenancy ConfigMap is invalid; the rules in force stay"
            ),
        }
    }
}

/// `NAMESPACE/NAME`.
fn configmap_ref(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("--tenancy-configmap {text:?} is not NAMESPACE/NAME")),
    }
}

/// The cluster id: the one given, else the UID of the kube-system
/// namespace, which lives as long as the cluster does.
async fn cluster_id(client: &kube::Client, given: Option<String>) -> Result<String, String> {
    if let Some(id) = given.filter(|id| !id.trim().is_empty()) {
        return Ok(id);
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let found = namespaces.get("kube-system").await.map_err(|e| {
        format!("cannot read the kube-system namespace for the cluster id ({e}): set --cluster-id (PLO_CLUSTER_ID, chart value operator.clusterId), or grant the operator get on namespaces/kube-system")
    })?;
    found.metadata.uid.ok_or_else(|| "the kube-system namespace has no UID: set --cluster-id".to_string())
}

/// The three controllers, until they stop.
pub async fn controllers(ctx: Arc<Context>) {
    tokio::join!(
        controller::endpoint_service::run(ctx.clone()),
        controller::endpoint_connection::run(ctx.clone()),
        controller::interface_endpoint::run(ctx),
    );
}

/// Leader election as the settings ask for it, if at all.
fn election(settings: &Settings) -> Option<Election> {
    settings.leader_elect.then(|| Election {
        lease_name: settings.leader_election_lease.clone(),
        namespace: settings.leader_election_namespace.clone(),
        identity: settings
            .leader_election_identity
            .clone()
            .unwrap_or_else(|| format!("privatelink-operator-{}", std::process::id())),
        duration: Duration::from_secs(settings.leader_election_lease_seconds),
        grace: Duration::from_secs((settings.leader_election_lease_seconds / 3).max(1)),
    })
}

/// `privatelink-operator run`: the settings' tenancy flags checked (exit 2
/// when they do not parse), logging, then the operator until a
/// termination signal.
pub fn main(settings: Settings) -> std::process::ExitCode {
    use std::process::ExitCode;
    compact_allocator();
    crate::telemetry::init(settings.log_format);
    let settings = match settings.with_tenancy_flags() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own heap and returns memory
/// to the system only from the top of each: with the controllers' many
/// small allocations freed on other threads, that kept a third of the
/// operator's resident memory at 10,000 objects. One heap, with large
/// temporary buffers (AWS responses of 1000 resources) in their own
/// mappings, keeps resident memory near what is in use. (musl, the
/// image's libc, has neither behaviour.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn compact_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called once, before
    // any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn compact_allocator() {}

/// Run the operator until a termination signal, with `settings` whose
/// tenancy flags are parsed ([`Settings::with_tenancy_flags`]).
pub async fn run(settings: Settings) -> Result<(), String> {
    let mut settings = settings;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API (kubeconfig or in-cluster config): {e}"))?;
    controller::check_crd::<EndpointService>(&client).await?;
    controller::check_crd::<EndpointConnection>(&client).await?;
    controller::check_crd::<InterfaceEndpoint>(&client).await?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let budget = Arc::new(crate::aws::budget::Budget::with_metrics(settings.aws_rate_scale.max(0.0), metrics.clone()));
    let mut aws = AwsClients::with_metrics(AwsClients::loader().load().await, metrics.clone()).with_budget(budget);
    if settings.per_object_reads {
        aws = aws.with_per_object_reads();
    }
    settings.session_role = settings.session_role.filter(|r| !r.trim().is_empty());
    if let Some(role) = &settings.session_role {
        aws = aws.with_session_role(role.clone());
    }
    settings.region = Some(
        settings
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| aws.default_region())
            .ok_or_else(|| "no AWS region: set --region or AWS_REGION".to_string())?,
    );
    settings.namespaces.retain(|n| !n.is_empty());
    settings.label_selector = settings.label_selector.filter(|l| !l.is_empty());
    let tenancy_source =
        settings.tenancy_configmap.as_deref().filter(|c| !c.trim().is_empty()).map(configmap_ref).transpose()?;
    if let Some((ns, name)) = &tenancy_source {
        settings.tenancy = read_tenancy(&client, ns, name).await?;
    }
    settings.cluster_id = Some(cluster_id(&client, settings.cluster_id.clone()).await?);
    let election = election(&settings);
    tracing::info!(
        region = %settings.default_region(),
        namespaces = ?settings.namespaces,
        label_selector = ?settings.label_selector,
        operator_credentials = %settings.tenancy.operator_credentials,
        adopters = %settings.tenancy.adopters,
        cluster_id = %settings.cluster_id(),
        session_role = ?settings.session_role,
        leader_election = election.is_some(),
        "starting"
    );
    let (bound, server) = crate::http::serve(settings.http_address, health.clone(), metrics.clone())
        .await
        .map_err(|e| format!("cannot serve HTTP on {}: {e}", settings.http_address))?;
    tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
    let server = tokio::spawn(server);
    let gate = aws.gate().clone();
    let ctx = Arc::new(Context::with_metrics(client.clone(), aws, settings, metrics.clone(), health.clone()));
    let tenancy_watch =
        tenancy_source.map(|(ns, name)| tokio::spawn(watch_tenancy(client.clone(), ns, name, ctx.clone())));
    let outcome = match election {
        None => {
            controllers(ctx).await;
            Ok(())
        }
        Some(election) => {
            let role = Role { gate, health, metrics, lease: election.lease_name.clone() };
            lead(client, election, role, move || controllers(ctx.clone()), shutdown_signal()).await
        }
    };
    server.abort();
    if let Some(watch) = tenancy_watch {
        watch.abort();
    }
    outcome
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
