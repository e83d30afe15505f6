//! `privatelink-operator run`: connect to Kubernetes and AWS, check the
//! CRDs, serve the HTTP endpoints, and run the three controllers — under
//! leader election when asked.

use std::net::SocketAddr;
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

/// What `run` needs beyond the controller settings' defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Region for objects that name none (default: the SDK's).
    pub region: Option<String>,
    /// Watched namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// Label selector of the objects this instance reconciles.
    pub label_selector: Option<String>,
    /// Resync period.
    pub resync: Duration,
    /// First poll interval.
    pub poll: Duration,
    /// Reconciles at once per kind.
    pub concurrency: u16,
    /// Tenancy rules.
    pub tenancy: Tenancy,
    /// Address of /healthz, /readyz, /metrics.
    pub http_address: SocketAddr,
    /// Leader election, when on.
    pub election: Option<Election>,
    /// Scale of the client-side EC2 token buckets (1: AWS's rates; 0: off).
    pub aws_rate_scale: f64,
    /// One Describe per object instead of shared snapshots (for comparison).
    pub per_object_reads: bool,
    /// This cluster's id for the ownership tags (None: the kube-system
    /// namespace's UID).
    pub cluster_id: Option<String>,
    /// The operator's own role, assumed per namespace with session tags.
    pub session_role: Option<String>,
    /// NAMESPACE/NAME of the ConfigMap holding the tenancy rules (None: the
    /// flags').
    pub tenancy_configmap: Option<String>,
}

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
    if let Some(id) = given {
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

/// Run the operator until a termination signal.
pub async fn run(options: Options) -> Result<(), String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API (kubeconfig or in-cluster config): {e}"))?;
    controller::check_crd::<EndpointService>(&client).await?;
    controller::check_crd::<EndpointConnection>(&client).await?;
    controller::check_crd::<InterfaceEndpoint>(&client).await?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let budget = Arc::new(crate::aws::budget::Budget::with_metrics(options.aws_rate_scale, metrics.clone()));
    let mut aws = AwsClients::with_metrics(AwsClients::loader().load().await, metrics.clone()).with_budget(budget);
    if options.per_object_reads {
        aws = aws.with_per_object_reads();
    }
    if let Some(role) = &options.session_role {
        aws = aws.with_session_role(role.clone());
    }
    let region = options
        .region
        .or_else(|| aws.default_region())
        .ok_or_else(|| "no AWS region: set --region or AWS_REGION".to_string())?;
    let mut settings = Settings::new(region);
    settings.namespaces = options.namespaces;
    settings.label_selector = options.label_selector;
    settings.resync = options.resync;
    settings.transition_poll = options.poll;
    settings.concurrency = options.concurrency;
    let tenancy_source = options.tenancy_configmap.as_deref().map(configmap_ref).transpose()?;
    settings.tenancy = match &tenancy_source {
        Some((ns, name)) => read_tenancy(&client, ns, name).await?,
        None => options.tenancy,
    };
    settings.cluster_id = cluster_id(&client, options.cluster_id).await?;
    tracing::info!(
        region = %settings.default_region,
        namespaces = ?settings.namespaces,
        label_selector = ?settings.label_selector,
        operator_credentials = %settings.tenancy.operator_credentials,
        adopters = %settings.tenancy.adopters,
        cluster_id = %settings.cluster_id,
        session_role = ?options.session_role,
        leader_election = options.election.is_some(),
        "starting"
    );
    let (bound, server) = crate::http::serve(options.http_address, health.clone(), metrics.clone())
        .await
        .map_err(|e| format!("cannot serve HTTP on {}: {e}", options.http_address))?;
    tracing::info!(address = %bound, "serving /healthz, /readyz and /metrics");
    let server = tokio::spawn(server);
    let gate = aws.gate().clone();
    let ctx = Arc::new(Context::with_metrics(client.clone(), aws, settings, metrics.clone(), health.clone()));
    let tenancy_watch =
        tenancy_source.map(|(ns, name)| tokio::spawn(watch_tenancy(client.clone(), ns, name, ctx.clone())));
    let outcome = match options.election {
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
