//! AWS errors, classified once: what the operator does about each, and the
//! fix a user reads in the condition. Codes and messages are kept verbatim.
//! A failed read is a fact like any other: the checks that needed it say
//! they could not check, and why. (Made from the SDK's errors in
//! `crate::aws::error`.)

use std::fmt;

/// How the operator treats an AWS error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// AWS throttled the call (RequestLimitExceeded…): retry with backoff.
    Throttled,
    /// A network failure, time-out or AWS-side 5xx: retry.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// The operator's credentials may not do this.
    AccessDenied,
    /// AWS refused the request as written: the user must change something.
    Refused,
}

/// One failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// AWS API action, e.g. `CreateVpcEndpointServiceConfiguration`.
    pub action: &'static str,
    /// AWS error code, e.g. `InvalidParameter`; None for network failures.
    pub code: Option<String>,
    /// AWS error message, verbatim.
    pub message: String,
    /// What the operator does about it.
    pub class: ErrorClass,
}

impl AwsError {
    /// An error reported per item inside a successful response
    /// (`Unsuccessful` lists of batch calls).
    pub fn unsuccessful(action: &'static str, code: Option<&str>, message: Option<&str>) -> Self {
        Self {
            action,
            code: code.map(str::to_string),
            message: message.unwrap_or("no message").to_string(),
            class: classify(code),
        }
    }

    /// A read that failed without an SDK error to go by (a DNS lookup, an
    /// answer without what was asked for).
    pub fn read_failed(action: &'static str, code: Option<String>, message: impl Into<String>) -> Self {
        let class = classify(code.as_deref());
        Self { action, code, message: message.into(), class }
    }

    /// The error for an action planned on a resource that does not exist yet.
    pub fn missing_id(action: &'static str, resource: &str) -> Self {
        Self {
            action,
            code: None,
            message: format!("no {resource} id: the {resource} must exist first"),
            class: ErrorClass::Refused,
        }
    }

    /// `Action: Code: message`: a failed read, as a check's evidence shows it.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{}: {code}: {}", self.action, self.message),
            None => format!("{}: {}", self.action, self.message),
        }
    }

    /// True when AWS refused the caller (IAM, an SCP, a permissions boundary).
    pub fn denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure")
        )
    }

    /// The error with what to do about it: `<action> failed: <code>: <message>. Fix: <fix>`.
    pub fn with_fix(&self) -> String {
        format!("{self}. Fix: {}", self.fix())
    }

    /// True when retrying the same call may succeed without any change.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Throttled | ErrorClass::Transient)
    }

    /// The condition reason: the AWS code, or the class for network failures.
    pub fn reason(&self) -> String {
        match &self.code {
            Some(code) => code.replace('.', ""),
            None => "AwsUnreachable".to_string(),
        }
    }

    /// What the user can do about it, in one sentence.
    pub fn fix(&self) -> String {
        let code = self.code.as_deref().unwrap_or("");
        match (self.class, code) {
            (ErrorClass::Throttled, _) => {
                "AWS is throttling this account and region; the operator retries with backoff, and a lasting problem calls for a higher EC2 API rate limit or fewer concurrent writers".into()
            }
            (ErrorClass::Transient, _) => "the operator retries; if it persists, check the network path to the AWS endpoint".into(),
            (ErrorClass::AccessDenied, _) => format!(
                "grant the operator's IAM role (or the roleArn it assumes) permission for ec2:{} / elasticloadbalancing:{}",
                self.action, self.action
            ),
            (_, "ExistingVpcEndpointConnections") => "reject the endpoints still connected to the service (an EndpointConnection with decision Reject, or ask the consumers to delete their endpoints); the operator retries the deletion".into(),
            (_, "InvalidVpcEndpointServiceId.NotFound") => "the endpoint service no longer exists in this account and region: check spec.serviceId and spec.region, or remove serviceId to create a new service".into(),
            (_, "LoadBalancerNotFound") => "check the load balancer ARNs, their region and account".into(),
            (_, c) if c.starts_with("InvalidParameter") || c == "ValidationError" => {
                "correct the spec field the AWS message names".into()
            }
            (_, "IdempotentParameterMismatch") => "a create with this object's client token was sent with other parameters; the operator retries at the next generation".into(),
            _ => "see the AWS message; the operator retries after a backoff".into(),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.action, self.message),
            None => write!(f, "{} failed: {}", self.action, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

/// Classify an AWS error code.
pub fn classify(code: Option<&str>) -> ErrorClass {
    match code {
        None => ErrorClass::Transient,
        Some(
            "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
            | "PriorRequestNotComplete",
        ) => ErrorClass::Throttled,
        Some("InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" | "RequestTimeout") => {
            ErrorClass::Transient
        }
        Some(
            "UnauthorizedOperation"
            | "AuthFailure"
            | "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "SignatureDoesNotMatch",
        ) => ErrorClass::AccessDenied,
        Some(c) if c.ends_with(".NotFound") || c.ends_with("NotFound") => ErrorClass::NotFound,
        Some(_) => ErrorClass::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify(Some("RequestLimitExceeded")), ErrorClass::Throttled);
        assert_eq!(classify(Some("InvalidVpcEndpointServiceId.NotFound")), ErrorClass::NotFound);
        assert_eq!(classify(Some("LoadBalancerNotFound")), ErrorClass::NotFound);
        assert_eq!(classify(Some("UnauthorizedOperation")), ErrorClass::AccessDenied);
        assert_eq!(classify(Some("InvalidParameter")), ErrorClass::Refused);
        assert_eq!(classify(Some("InternalError")), ErrorClass::Transient);
        assert_eq!(classify(None), ErrorClass::Transient);
    }

    #[test]
    fn display_keeps_code_and_message_verbatim_and_fix_names_the_way_out() {
        let e = AwsError::unsuccessful(
            "DeleteVpcEndpointServiceConfigurations",
            Some("ExistingVpcEndpointConnections"),
            Some("Service has existing active VPC Endpoint connections"),
        );
        assert_eq!(
            e.to_string(),
            "DeleteVpcEndpointServiceConfigurations failed: ExistingVpcEndpointConnections: Service has existing active VPC Endpoint connections"
        );
        assert!(e.fix().contains("reject the endpoints"));
        assert_eq!(e.reason(), "ExistingVpcEndpointConnections");
        assert!(!e.is_retryable());
        assert!(AwsError::unsuccessful("X", Some("RequestLimitExceeded"), None).is_retryable());
    }
}
