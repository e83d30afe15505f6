//! The custom resource types of the `privatelink.dev/v1alpha1` API.
//!
//! Every field's doc comment becomes `kubectl explain` text; constraints the
//! API server can check (patterns, enums, list limits, CEL rules) live in the
//! generated schema so bad input is refused at apply time.

pub mod common;
pub mod conditions;
pub mod endpoint_connection;
pub mod endpoint_service;
pub mod interface_endpoint;
pub mod schema;

pub use common::{DeletionPolicy, LocalObjectReference};
pub use conditions::{Condition, ConditionStatus};
pub use endpoint_connection::{EndpointConnection, EndpointConnectionSpec, EndpointConnectionStatus};
pub use endpoint_service::{EndpointService, EndpointServiceSpec, EndpointServiceStatus};
pub use interface_endpoint::{InterfaceEndpoint, InterfaceEndpointSpec, InterfaceEndpointStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every kind.
pub const GROUP: &str = "privatelink.dev";
/// API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "privatelink.dev/v1alpha1";

/// The CRDs of all kinds, in the order `privatelink-operator crds` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![EndpointService::crd(), EndpointConnection::crd(), InterfaceEndpoint::crd()]
}

/// `privatelink-operator crds`: print the CRDs.
pub fn print_crds() -> std::process::ExitCode {
    match crds_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render CRDs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The CRDs as one multi-document YAML stream (what `crds/` holds).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
