//! Load balancer checks through ELBv2.

use aws_sdk_elasticloadbalancingv2::types::LoadBalancer;

use super::RegionClients;
use super::error::{AwsError, ErrorClass};
use crate::plan::facts::ObservedLoadBalancer;

/// Convert the SDK's view of a load balancer.
pub(crate) fn observe(lb: &LoadBalancer) -> Option<ObservedLoadBalancer> {
    Some(ObservedLoadBalancer {
        arn: lb.load_balancer_arn()?.to_string(),
        lb_type: lb.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        state: lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default(),
        availability_zones: lb.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_string)).collect(),
    })
}

impl RegionClients {
    /// Describe the load balancers with these ARNs. ARNs ELBv2 does not
    /// know are left out of the answer (ELBv2 fails the whole call for one
    /// unknown ARN, so the ARNs are then asked one by one).
    pub async fn describe_load_balancers(&self, arns: &[String]) -> Result<Vec<ObservedLoadBalancer>, AwsError> {
        const ACTION: &str = "DescribeLoadBalancers";
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        match self.elbv2.describe_load_balancers().set_load_balancer_arns(Some(arns.to_vec())).send().await {
            Ok(out) => Ok(out.load_balancers().iter().filter_map(observe).collect()),
            Err(e) => {
                let e = AwsError::from_sdk(ACTION, e);
                if e.class != ErrorClass::NotFound && e.code.as_deref() != Some("ValidationError") {
                    return Err(e);
                }
                let mut found = Vec::new();
                if arns.len() == 1 {
                    return Ok(found);
                }
                for arn in arns {
                    match self.elbv2.describe_load_balancers().load_balancer_arns(arn).send().await {
                        Ok(out) => found.extend(out.load_balancers().iter().filter_map(observe)),
                        Err(e) => {
                            let e = AwsError::from_sdk(ACTION, e);
                            if e.class != ErrorClass::NotFound && e.code.as_deref() != Some("ValidationError") {
                                return Err(e);
                            }
                        }
                    }
                }
                Ok(found)
            }
        }
    }
}
