//! The operator's HTTP endpoints: `/healthz` (the process answers),
//! `/readyz` (caches synced; a standby waiting for the lease is ready too,
//! so rollouts of several replicas progress) and `/metrics` (Prometheus).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use crate::metrics::Metrics;

/// What /readyz reports.
#[derive(Debug, Default)]
pub struct Health {
    leader_election: AtomicBool,
    leading: AtomicBool,
    expected: Mutex<usize>,
    synced: Mutex<BTreeSet<String>>,
}

impl Health {
    /// Controllers will report `count` caches (one per kind and scope).
    pub fn expect_caches(&self, count: usize) {
        if let Ok(mut e) = self.expected.lock() {
            *e += count;
        }
    }

    /// One controller's cache (`name`) is synced.
    pub fn cache_synced(&self, name: String) {
        if let Ok(mut s) = self.synced.lock() {
            s.insert(name);
        }
    }

    /// Leader election is on; `leading` says whether this instance leads.
    pub fn set_leading(&self, leading: bool) {
        self.leader_election.store(true, Ordering::SeqCst);
        self.leading.store(leading, Ordering::SeqCst);
        if !leading && let Ok(mut s) = self.synced.lock() {
            s.clear();
        }
        if !leading && let Ok(mut e) = self.expected.lock() {
            *e = 0;
        }
    }

    /// Ready, and what /readyz says.
    pub fn readiness(&self) -> (bool, String) {
        let election = self.leader_election.load(Ordering::SeqCst);
        if election && !self.leading.load(Ordering::SeqCst) {
            return (true, "standby: waiting for the leader election lease".into());
        }
        let expected = self.expected.lock().map(|e| *e).unwrap_or(0);
        let synced = self.synced.lock().map(|s| s.len()).unwrap_or(0);
        if expected > 0 && synced >= expected {
            let role = if election { "leader" } else { "running" };
            (true, format!("{role}: {synced} caches synced"))
        } else {
            (false, format!("{synced} of {expected} caches synced"))
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn route(req: &Request<Incoming>, health: &Health, metrics: &Metrics) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/healthz" | "/livez" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let (ready, message) = health.readiness();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            text(status, format!("{message}\n"))
        }
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics.encode());
            if let Ok(value) = "application/openmetrics-text; version=1.0.0; charset=utf-8".parse() {
                response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            }
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// Bind `addr`; returns the bound address (port 0 picks one) and the
/// server's future, which serves until dropped.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let server = async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (health, metrics) = (health.clone(), metrics.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = route(&req, &health, &metrics);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                    tracing::debug!(error = %e, "HTTP connection ended");
                }
            });
        }
    };
    Ok((bound, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_caches_and_leadership() {
        let h = Health::default();
        assert!(!h.readiness().0, "nothing synced yet");
        h.expect_caches(2);
        h.cache_synced("a".into());
        assert!(!h.readiness().0);
        h.cache_synced("b".into());
        assert!(h.readiness().0);
        h.set_leading(false);
        let (ready, message) = h.readiness();
        assert!(ready && message.contains("standby"), "{message}");
        h.set_leading(true);
        assert!(!h.readiness().0, "a new leader waits for its caches");
    }
}
