//! privatelink-operator: a Kubernetes operator that manages AWS PrivateLink.
//!
//! Layout: [`api`] holds the custom resource types, [`plan`] the pure
//! desired-vs-observed diff, [`manifests`] the offline validation that
//! [`cli_plan`] (the `plan` command) uses, [`config`] the settings,
//! [`doctor`] the diagnosis of deletions and traffic that AWS blocks (its
//! checks are pure; its reads need the `aws` feature). With the `aws`
//! feature (the default): [`aws`] every AWS call, [`controller`] the
//! reconcilers, [`operator`] the `run` command, [`leader`] leader election,
//! [`http`] the health and metrics endpoints, [`metrics`] the Prometheus
//! metrics.

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cli_plan;
pub mod config;
#[cfg(feature = "aws")]
pub mod controller;
pub mod doctor;
#[cfg(feature = "aws")]
pub mod http;
#[cfg(feature = "aws")]
pub mod leader;
pub mod manifests;
#[cfg(feature = "aws")]
pub mod metrics;
#[cfg(feature = "aws")]
pub mod operator;
pub mod plan;
#[cfg(feature = "aws")]
pub mod telemetry;
