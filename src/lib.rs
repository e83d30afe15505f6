//! privatelink-operator: a Kubernetes operator that manages AWS PrivateLink.
//!
//! Layout: [`api`] holds the custom resource types, [`plan`] the pure
//! desired-vs-observed diff, [`manifests`] the offline validation that
//! [`cli_plan`] (the `plan` command) uses, and [`config`] the settings.

pub mod api;
pub mod cli_plan;
pub mod config;
pub mod manifests;
pub mod plan;
