//! AWS errors from the SDK's: code and message kept verbatim, classified
//! once ([`crate::plan::facts::error`]).

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

pub use crate::plan::facts::error::{AwsError, ErrorClass, classify};

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
}
