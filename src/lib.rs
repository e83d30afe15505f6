//! privatelink-operator: a Kubernetes operator that manages AWS PrivateLink.
//!
//! Layout: [`api`] holds the custom resource types, [`plan`] the pure
//! desired-vs-observed diff, [`aws`] every AWS call, [`controller`] the
//! reconcilers, [`manifests`] the offline validation that [`cli_plan`] (the
//! `plan` command) uses, and [`config`] the settings.

pub mod api;
pub mod aws;
pub mod cli_plan;
pub mod config;
pub mod controller;
pub mod manifests;
pub mod plan;
pub mod telemetry;
