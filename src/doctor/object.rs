//! `doctor KIND/NAME -n NAMESPACE`: the subject as the user thinks of it —
//! one of the operator's objects — read from the Kubernetes API, with the
//! AWS id, region and role its status recorded when the operator created or
//! adopted its resource.

use kube::api::Api;
use serde::de::DeserializeOwned;

use super::Subject;
use crate::api::{EndpointConnection, EndpointService, InterfaceEndpoint};

/// Where doctor looks, from an object's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The AWS resource the object manages.
    pub subject: Subject,
    /// Its region, as recorded.
    pub region: Option<String>,
    /// The role the object acts through, if any.
    pub role_arn: Option<String>,
    /// The role's external ID (from the spec).
    pub external_id: Option<String>,
}

/// The kinds, by every name kubectl accepts for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// EndpointService (`endpointservice`, `endpointservices`, `epsvc`).
    EndpointService,
    /// EndpointConnection (`endpointconnection`, `endpointconnections`, `epconn`).
    EndpointConnection,
    /// InterfaceEndpoint (`interfaceendpoint`, `interfaceendpoints`, `ifep`).
    InterfaceEndpoint,
}

/// `KIND/NAME` (KIND as kubectl takes it, optionally with `.privatelink.dev`).
pub fn parse(text: &str) -> Option<Result<(Kind, String), String>> {
    let (kind, name) = text.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let kind = kind.strip_suffix(".privatelink.dev").unwrap_or(&kind);
    let kind = match kind {
        "endpointservice" | "endpointservices" | "epsvc" => Kind::EndpointService,
        "endpointconnection" | "endpointconnections" | "epconn" => Kind::EndpointConnection,
        "interfaceendpoint" | "interfaceendpoints" | "ifep" => Kind::InterfaceEndpoint,
        other => {
            return Some(Err(format!(
                "{other:?} is not a kind doctor reads: endpointservice (epsvc), endpointconnection (epconn) or interfaceendpoint (ifep)"
            )));
        }
    };
    if name.is_empty() || name.contains('/') {
        return Some(Err(format!("{text:?} is not KIND/NAME")));
    }
    Some(Ok((kind, name.to_string())))
}

/// Read `name` of `kind` in `namespace` and where its resource lives.
pub async fn resolve(client: &kube::Client, kind: Kind, name: &str, namespace: &str) -> Result<Target, String> {
    match kind {
        Kind::EndpointService => {
            let svc: EndpointService = get(client, namespace, name).await?;
            let status = svc.status.unwrap_or_default();
            let id = recorded(status.service_id, "EndpointService", namespace, name, "serviceId")?;
            Ok(Target {
                subject: Subject::Service(id),
                region: status.region.or(svc.spec.region),
                role_arn: status.role_arn.or(svc.spec.role_arn),
                external_id: svc.spec.external_id,
            })
        }
        Kind::InterfaceEndpoint => {
            let ep: InterfaceEndpoint = get(client, namespace, name).await?;
            let status = ep.status.unwrap_or_default();
            let id = recorded(status.vpc_endpoint_id, "InterfaceEndpoint", namespace, name, "vpcEndpointId")?;
            Ok(Target {
                subject: Subject::Endpoint(id),
                region: status.region.or(ep.spec.region),
                role_arn: status.role_arn.or(ep.spec.role_arn),
                external_id: ep.spec.external_id,
            })
        }
        Kind::EndpointConnection => {
            // A connection is decided on its service: doctor the service.
            let conn: EndpointConnection = get(client, namespace, name).await?;
            let status = conn.status.unwrap_or_default();
            let id = recorded(status.service_id, "EndpointConnection", namespace, name, "serviceId")?;
            Ok(Target {
                subject: Subject::Service(id),
                region: status.region.or(conn.spec.region),
                role_arn: status.role_arn.or(conn.spec.role_arn),
                external_id: conn.spec.external_id,
            })
        }
    }
}

async fn get<K>(client: &kube::Client, namespace: &str, name: &str) -> Result<K, String>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(format!("{} {namespace}/{name} does not exist", K::kind(&()))),
        Err(e) => Err(format!("cannot read {} {namespace}/{name}: {e}", K::kind(&()))),
    }
}

fn recorded(id: Option<String>, kind: &str, namespace: &str, name: &str, field: &str) -> Result<String, String> {
    id.filter(|i| !i.is_empty()).ok_or_else(|| {
        format!(
            "{kind} {namespace}/{name} has no AWS resource yet (status.{field} is empty): the operator has not created or adopted one; its conditions say why (kubectl describe)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_by_every_name_kubectl_takes() {
        for text in ["epsvc/api", "EndpointService/api", "endpointservices.privatelink.dev/api"] {
            assert_eq!(parse(text), Some(Ok((Kind::EndpointService, "api".into()))), "{text}");
        }
        assert_eq!(parse("ifep/db"), Some(Ok((Kind::InterfaceEndpoint, "db".into()))));
        assert_eq!(parse("epconn/c"), Some(Ok((Kind::EndpointConnection, "c".into()))));
        assert!(parse("vpce-0123456789abcdef0").is_none(), "an AWS id is not KIND/NAME");
        assert!(matches!(parse("deployment/x"), Some(Err(e)) if e.contains("epsvc")));
        assert!(matches!(parse("ifep/"), Some(Err(_))));
    }
}
