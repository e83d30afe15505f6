//! Integration tests, in one binary so the AWS SDK is linked once. Each
//! module covers one area; `support` holds the in-process Kubernetes API
//! server, the AWS simulator connection and the helpers they share.

mod support;

mod apiserver;
mod aws_sim;
mod crds;
mod endpoint_service;
mod interface_endpoint;
mod plan_cli;
mod tenancy;
