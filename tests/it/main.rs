//! Integration tests, in one binary so the AWS SDK is linked once. Each
//! module covers one area; `support` holds the connections to the real
//! Kubernetes API server and the AWS simulator, and the helpers they share.

mod support;

mod abac;
mod alerts;
mod argocd;
mod aws_sim;
mod chart;
mod connections;
mod crash;
mod crds;
mod doctor;
mod endpoint_service;
mod faults;
mod hostile;
mod iam;
mod interface_endpoint;
mod kstatus;
mod kube_api;
mod plan_cli;
mod plan_vs_run;
mod production;
mod rates;
mod rebuild;
mod tenancy;
