//! AWS errors, classified once: what the operator does about each, and the
//! fix a user reads in the condition. Codes and messages are kept verbatim.

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

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
    /// An error from an SDK call.
    pub fn from_sdk<E, R>(action: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = err.code().map(str::to_string);
        let message = err.message().map(str::to_string).unwrap_or_else(|| {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        });
        let class = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ErrorClass::Transient,
            SdkError::ResponseError(_) => ErrorClass::Transient,
            _ => classify(code.as_deref()),
        };
        Self { action, code, message, class }
    }

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

    /// The error for an action planned on a resource that does not exist yet.
    pub fn missing_id(action: &'static str, resource: &str) -> Self {
        Self {
            action,
            code: None,
            message: format!("no {resource} id: the {resource} must exist first"),
            class: ErrorClass::Refused,
        }
    }

    /// The outcome of a batch call's `Unsuccessful` list for one resource:
    /// its first error, except that a resource AWS no longer knows counts
    /// as done (a delete that already happened).
    pub fn from_unsuccessful(action: &'static str, items: &[aws_sdk_ec2::types::UnsuccessfulItem]) -> Result<(), Self> {
        match items.iter().find_map(|u| u.error()) {
            Some(error) => {
                let e = Self::unsuccessful(action, error.code(), error.message());
                if e.class == ErrorClass::NotFound { Ok(()) } else { Err(e) }
            }
            None => Ok(()),
        }
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
