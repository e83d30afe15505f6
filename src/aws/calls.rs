//! Counting AWS calls by service and operation, as the SDK sends them: the
//! figures behind metrics, tests ("an in-sync reconcile makes no mutating
//! call") and benchmarks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

use crate::metrics::Metrics;

/// Calls and attempts per (service, operation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Operations started, keyed by `(service, operation)`.
    pub calls: BTreeMap<(String, String), u64>,
    /// HTTP attempts (calls plus retries).
    pub attempts: BTreeMap<(String, String), u64>,
}

impl CallCounts {
    /// Operations whose name says they change something (anything but
    /// Describe*/List*/Get*).
    pub fn mutating(&self) -> BTreeMap<String, u64> {
        self.calls.iter().filter(|((_, op), _)| !is_read(op)).map(|((_, op), n)| (op.clone(), *n)).collect()
    }

    /// Read operations and their counts.
    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.calls.iter().filter(|((_, op), _)| is_read(op)).map(|((_, op), n)| (op.clone(), *n)).collect()
    }

    /// Attempts beyond the first of each call.
    pub fn retries(&self) -> u64 {
        self.attempts.values().sum::<u64>().saturating_sub(self.calls.values().sum::<u64>())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn response_codes_come_from_the_body_or_the_status() {
        use super::response_code;
        assert_eq!(response_code(200, None), "Success");
        let body = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>x</Message></Error></Errors></Response>";
        assert_eq!(response_code(503, Some(body)), "RequestLimitExceeded");
        assert_eq!(response_code(500, Some(b"<html>oops</html>")), "500");
    }
}

/// True for read-only AWS operations.
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get"].iter().any(|p| operation.starts_with(p))
}

/// An SDK interceptor that counts every call and attempt, and feeds the
/// Prometheus metrics (requests by result code, throttled, retried).
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<CallCounts>>,
    metrics: Option<Arc<Metrics>>,
}

/// The AWS error code of a failed HTTP response (`<Code>…</Code>` in the
/// XML body EC2, ELB and SNS answer with), else its HTTP status.
pub fn response_code(status: u16, body: Option<&[u8]>) -> String {
    if status < 300 {
        return "Success".into();
    }
    let text = body.map(String::from_utf8_lossy).unwrap_or_default();
    text.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .filter(|c| !c.is_empty() && c.len() < 100)
        .map(str::to_string)
        .unwrap_or_else(|| status.to_string())
}

impl CallCounter {
    /// A counter that also feeds `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Self { counts: Arc::default(), metrics: Some(metrics) }
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> CallCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls made since `before` (a previous snapshot).
    pub fn since(&self, before: &CallCounts) -> CallCounts {
        let now = self.snapshot();
        let sub = |a: &BTreeMap<(String, String), u64>, b: &BTreeMap<(String, String), u64>| {
            a.iter()
                .filter_map(|(k, v)| {
                    let d = v - b.get(k).copied().unwrap_or(0);
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        CallCounts { calls: sub(&now.calls, &before.calls), attempts: sub(&now.attempts, &before.attempts) }
    }

    fn record(&self, cfg: &ConfigBag, attempt: bool) {
        let Some(meta) = cfg.load::<Metadata>() else { return };
        let key = (meta.service().to_string(), meta.name().to_string());
        if let Ok(mut counts) = self.counts.lock() {
            let map = if attempt { &mut counts.attempts } else { &mut counts.calls };
            *map.entry(key).or_default() += 1;
        }
    }
}

/// When an attempt was handed to the HTTP client.
#[derive(Debug, Clone, Copy)]
struct Sent(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for Sent {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "privatelink-operator call counter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(cfg, false);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(cfg, true);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The attempt's latency counts from here: signed, the token (if any)
        // taken, on its way to AWS.
        cfg.interceptor_state().store_put(Sent(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(metrics), Some(meta)) = (&self.metrics, cfg.load::<Metadata>()) else { return Ok(()) };
        let code = match context.response() {
            Some(response) => response_code(response.status().as_u16(), response.body().bytes()),
            None => "NoResponse".to_string(),
        };
        metrics.aws_attempt(meta.service(), meta.name(), &code);
        if let Some(Sent(sent)) = cfg.load::<Sent>() {
            metrics.aws_latency(meta.service(), meta.name(), sent.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(metrics), Some(meta)) = (&self.metrics, cfg.load::<Metadata>()) {
            let attempts = cfg.load::<RequestAttempts>().map(|a| a.attempts()).unwrap_or(1);
            metrics.aws_retries(meta.service(), meta.name(), u64::from(attempts.saturating_sub(1)));
        }
        Ok(())
    }
}
