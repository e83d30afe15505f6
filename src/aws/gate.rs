//! The mutation gate: an SDK interceptor that refuses every mutating AWS
//! call while it is closed — the moment an instance stops leading, before
//! any in-flight reconcile can change AWS. It is asked before a call starts
//! and again before each HTTP attempt, so neither a call that waited for a
//! token nor the SDK's retry of a call goes out after the lease is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use super::calls::is_read;

/// Open: mutating calls go out. Closed: they fail before being sent.
#[derive(Debug, Clone)]
pub struct MutationGate {
    open: Arc<AtomicBool>,
}

impl Default for MutationGate {
    fn default() -> Self {
        Self { open: Arc::new(AtomicBool::new(true)) }
    }
}

impl MutationGate {
    /// Open or close the gate.
    pub fn set(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    /// True while mutating calls may go out.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

/// The error a refused call fails with.
#[derive(Debug, thiserror::Error)]
#[error("{0} refused: this instance does not lead (leader election), so it changes nothing in AWS")]
pub struct NotLeading(String);

impl Intercept for MutationGate {
    fn name(&self) -> &'static str {
        "privatelink-operator mutation gate"
    }

    /// Before anything is sent or a token taken.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.check(cfg)
    }

    /// And again at every HTTP attempt, retries included, after any wait
    /// for a token: the lease may have been lost while the call waited.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.check(cfg)
    }
}

impl MutationGate {
    fn check(&self, cfg: &ConfigBag) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else { return Ok(()) };
        if self.is_open() || is_read(meta.name()) {
            return Ok(());
        }
        Err(Box::new(NotLeading(meta.name().to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_starts_open_and_closes() {
        let gate = MutationGate::default();
        assert!(gate.is_open());
        let other = gate.clone();
        other.set(false);
        assert!(!gate.is_open(), "clones share the gate");
    }
}
