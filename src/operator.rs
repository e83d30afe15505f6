//! `privatelink-operator run`: connect to Kubernetes and AWS, check the
//! CRDs, serve the HTTP endpoints, and run the three controllers — under
//! leader election when asked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    settings.tenancy = options.tenancy;
    settings.cluster_id = cluster_id(&client, options.cluster_id).await?;
    tracing::info!(
        region = %settings.default_region,
        namespaces = ?settings.namespaces,
        label_selector = ?settings.label_selector,
        operator_credentials = %settings.tenancy.operator_credentials,
        adopters = %settings.tenancy.adopters,
        cluster_id = %settings.cluster_id,
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
    let outcome = match options.election {
        None => {
            controllers(ctx).await;
            Ok(())
        }
        Some(election) => {
            let role = Role { gate, health, metrics };
            lead(client, election, role, move || controllers(ctx.clone()), shutdown_signal()).await
        }
    };
    server.abort();
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
