//! Carrying out a planned action: every one needs the ownership guard's
//! [`Permit`] for the resource it changes.

use std::future::Future;

use super::RegionClients;
use super::guard::Permit;
use crate::plan::endpoint_connection::Decision;
use crate::plan::endpoint_service::ServiceAction;
use crate::plan::facts::AwsError;
use crate::plan::interface_endpoint::EndpointAction;

/// An action the operator can carry out on `resource` (None before it exists).
pub trait Execute {
    /// Carry it out; the id of a resource it created.
    fn execute(
        &self,
        aws: &RegionClients,
        permit: &Permit,
        resource: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

impl Execute for EndpointAction {
    async fn execute(
        &self,
        aws: &RegionClients,
        permit: &Permit,
        resource: Option<&str>,
    ) -> Result<Option<String>, AwsError> {
        aws.apply_endpoint_action(permit, resource, self).await
    }
}

impl Execute for ServiceAction {
    async fn execute(
        &self,
        aws: &RegionClients,
        permit: &Permit,
        resource: Option<&str>,
    ) -> Result<Option<String>, AwsError> {
        aws.apply_service_action(permit, resource, self).await
    }
}

impl Execute for Decision {
    async fn execute(
        &self,
        aws: &RegionClients,
        permit: &Permit,
        resource: Option<&str>,
    ) -> Result<Option<String>, AwsError> {
        aws.apply_service_action(permit, resource, &self.service_action()).await
    }
}
