//! A read-only snapshot of live AWS for `plan --live`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ObservedState;
use crate::manifests::Manifest;

use crate::plan::endpoint_service::DesiredService;
use crate::plan::facts::{ObservedConnection, ObservedEndpoint, ObservedNotification, ObservedService};
use crate::plan::interface_endpoint::DesiredEndpoint;

/// A read-only snapshot of live AWS: for each EndpointService manifest, the
/// service it adopts (spec.serviceId) or the one the operator created for
/// it (found by its namespace/name ownership tags), with its principals.
#[derive(Default)]
pub struct LiveAccount {
    services: Vec<(ObservedService, BTreeSet<String>)>,
    endpoints: Vec<ObservedEndpoint>,
    connections: std::collections::BTreeMap<String, Vec<ObservedConnection>>,
    notifications: std::collections::BTreeMap<String, Vec<ObservedNotification>>,
}

impl LiveAccount {
    /// Read what the manifests refer to. Only Describe calls are made.
    pub async fn read(
        manifests: &[Manifest],
        aws: &crate::aws::AwsClients,
        default_region: &str,
    ) -> Result<Self, crate::aws::AwsError> {
        let regions_of = |kind: &str| -> BTreeSet<String> {
            manifests
                .iter()
                .filter(|m| m.kind() == kind)
                .map(|m| m.value.pointer("/spec/region").and_then(Value::as_str).unwrap_or(default_region).to_string())
                .collect()
        };
        let mut live = Self::default();
        for region in regions_of("InterfaceEndpoint") {
            let clients = aws.for_region(&crate::aws::Identity::operator(), &region).await;
            live.endpoints.extend(clients.list_endpoints().await?);
        }
        // Only services a manifest can match need their permissions read:
        // adopted by spec.serviceId, or tagged with a manifest's namespace/name.
        use crate::plan::tags::{OWNER_NAME, OWNER_NAMESPACE};
        let services = manifests.iter().filter(|m| m.kind() == "EndpointService");
        let adopted: BTreeSet<&str> =
            services.clone().filter_map(|m| m.value.pointer("/spec/serviceId")?.as_str()).collect();
        let owners: BTreeSet<String> = services.map(Manifest::object_ref).collect();
        let referenced = |s: &ObservedService| {
            adopted.contains(s.id.as_str())
                || matches!((s.tags.get(OWNER_NAMESPACE), s.tags.get(OWNER_NAME)), (Some(ns), Some(name)) if owners.contains(&format!("{ns}/{name}")))
        };
        for region in regions_of("EndpointService") {
            let clients = aws.for_region(&crate::aws::Identity::operator(), &region).await;
            for service in clients.describe_services(&[]).await? {
                if service.is_gone() || !referenced(&service) {
                    continue;
                }
                let principals = clients.allowed_principals(&service.id).await?;
                live.connections.insert(service.id.clone(), clients.service_connections(&service.id).await?);
                live.notifications.insert(service.id.clone(), clients.notifications(&service.id).await?);
                live.services.push((service, principals));
            }
        }
        // Services EndpointConnections name by id: their connections.
        for m in manifests.iter().filter(|m| m.kind() == "EndpointConnection") {
            let Some(id) = m.value.pointer("/spec/serviceId").and_then(Value::as_str) else { continue };
            let region = m.value.pointer("/spec/region").and_then(Value::as_str).unwrap_or(default_region);
            if live.connections.contains_key(id) {
                continue;
            }
            let clients = aws.for_region(&crate::aws::Identity::operator(), region).await;
            match clients.service_connections(id).await {
                Ok(found) => {
                    live.connections.insert(id.to_string(), found);
                }
                Err(e) if e.class == crate::aws::ErrorClass::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(live)
    }
}

impl ObservedState for LiveAccount {
    fn connections(&self, service_id: &str) -> Vec<ObservedConnection> {
        self.connections.get(service_id).cloned().unwrap_or_default()
    }

    fn notifications(&self, service_id: &str) -> Vec<ObservedNotification> {
        self.notifications.get(service_id).cloned().unwrap_or_default()
    }

    fn endpoint_service(
        &self,
        desired: &DesiredService,
        service_id: Option<&str>,
    ) -> Option<(ObservedService, BTreeSet<String>)> {
        self.services
            .iter()
            .find(|(o, _)| match service_id {
                Some(id) => o.id == id,
                None => owned_by(&desired.tags, &o.tags),
            })
            .cloned()
    }

    fn interface_endpoint(&self, desired: &DesiredEndpoint, endpoint_id: Option<&str>) -> Option<ObservedEndpoint> {
        self.endpoints
            .iter()
            .find(|o| match endpoint_id {
                Some(id) => o.id == id,
                None => owned_by(&desired.tags, &o.tags),
            })
            .cloned()
    }
}

fn owned_by(
    desired_tags: &std::collections::BTreeMap<String, String>,
    tags: &std::collections::BTreeMap<String, String>,
) -> bool {
    use crate::plan::tags::{OWNER_NAME, OWNER_NAMESPACE};
    [OWNER_NAMESPACE, OWNER_NAME].iter().all(|k| desired_tags.get(*k).is_some_and(|v| tags.get(*k) == Some(v)))
}
