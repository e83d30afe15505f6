//! privatelink-operator: a Kubernetes operator that manages AWS PrivateLink.
//!
//! Layout: [`api`] holds the custom resource types, [`plan`] the pure
//! desired-vs-observed diff, [`aws`] every AWS call, [`controller`] the
//! reconcilers, [`manifests`] the offline validation that [`cli_plan`] (the
//! `plan` command) uses, [`config`] the settings, [`leader`] leader
//! election, [`http`] the health and metrics endpoints, [`metrics`] the
//! Prometheus metrics, [`doctor`] the diagnosis of deletions and traffic
//! that AWS blocks.

pub mod api;
pub mod aws;
pub mod cli_plan;
pub mod config;
pub mod controller;
pub mod doctor;
pub mod http;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod operator;
pub mod plan;
pub mod telemetry;
