//! `plan --live`: AWS read through the operator's own clients, with its
//! own credentials (read-only: Describe calls only).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::Accounts;
use crate::aws::{AwsClients, Identity, RegionClients};
use crate::plan::facts::AwsError;
use crate::plan::tags::{OWNER_CLUSTER, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID};

/// A resource's tags.
type Tags = BTreeMap<String, String>;

/// Live AWS, as the operator's own credentials see it.
pub struct Live<'a> {
    aws: &'a AwsClients,
    /// The tags of every service or endpoint of a (kind, region), once listed.
    listed: Mutex<HashMap<(String, String), Vec<Tags>>>,
}

impl<'a> Live<'a> {
    /// Live AWS through `aws`.
    pub fn new(aws: &'a AwsClients) -> Self {
        Self { aws, listed: Mutex::default() }
    }

    async fn clients(&self, region: &str) -> std::sync::Arc<RegionClients> {
        self.aws.for_region(&Identity::operator(), region).await
    }

    /// The tags of every resource of `kind` in `region` (listed once).
    async fn tags_of(&self, kind: &str, region: &str) -> Result<Vec<Tags>, AwsError> {
        let key = (kind.to_string(), region.to_string());
        if let Some(found) = self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok(found.clone());
        }
        let aws = self.clients(region).await;
        let tags: Vec<_> = match kind {
            "EndpointService" => {
                aws.describe_services(&[]).await?.into_iter().filter(|s| !s.is_gone()).map(|s| s.tags).collect()
            }
            "InterfaceEndpoint" => aws.list_endpoints().await?.into_iter().map(|e| e.tags).collect(),
            _ => Vec::new(),
        };
        self.listed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, tags.clone());
        Ok(tags)
    }
}

impl Accounts for Live<'_> {
    type Reads = RegionClients;

    async fn region(&self, region: &str) -> RegionClients {
        (*self.clients(region).await).clone()
    }

    async fn owner(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        adopt: Option<&str>,
        region: &str,
    ) -> Result<Option<(String, String)>, AwsError> {
        let aws = self.clients(region).await;
        let tags = match (kind, adopt) {
            ("EndpointService", Some(id)) => aws.find_service(id).await?.map(|s| s.tags).into_iter().collect(),
            ("InterfaceEndpoint", Some(id)) => aws.find_endpoint(id).await?.map(|e| e.tags).into_iter().collect(),
            (_, None) => self.tags_of(kind, region).await?,
            _ => Vec::new(),
        };
        let object = |t: &&Tags| {
            t.get(OWNER_NAMESPACE).map(String::as_str) == Some(namespace)
                && t.get(OWNER_NAME).map(String::as_str) == Some(name)
        };
        Ok(tags.iter().find(object).map(|t| {
            (t.get(OWNER_CLUSTER).cloned().unwrap_or_default(), t.get(OWNER_UID).cloned().unwrap_or_default())
        }))
    }
}
