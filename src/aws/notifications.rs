//! Connection notifications of an endpoint service, and the SNS topics
//! they publish to.

use aws_sdk_ec2::types::Filter;

use super::RegionClients;
use super::error::{AwsError, ErrorClass};
use crate::plan::facts::ObservedNotification;
use crate::plan::notifications::NotificationAction;

/// Convert the SDK's view of a connection notification.
pub fn observe_notification(n: &aws_sdk_ec2::types::ConnectionNotification) -> ObservedNotification {
    ObservedNotification {
        id: n.connection_notification_id().unwrap_or_default().to_string(),
        topic_arn: n.connection_notification_arn().unwrap_or_default().to_string(),
        events: n.connection_events().iter().cloned().collect(),
    }
}

impl RegionClients {
    /// The service's connection notifications (one paginated call).
    pub async fn notifications(&self, service_id: &str) -> Result<Vec<ObservedNotification>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointConnectionNotifications";
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_connection_notifications()
            .filters(Filter::builder().name("service-id").values(service_id).build())
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            found.extend(page.connection_notification_set().iter().map(observe_notification));
        }
        Ok(found)
    }

    /// Carry out one notification change on the service.
    pub(in crate::aws) async fn apply_notification(
        &self,
        service_id: &str,
        action: &NotificationAction,
    ) -> Result<(), AwsError> {
        match action {
            NotificationAction::Create { topic_arn, events } => {
                const ACTION: &str = "CreateVpcEndpointConnectionNotification";
                self.ec2
                    .create_vpc_endpoint_connection_notification()
                    .service_id(service_id)
                    .connection_notification_arn(topic_arn)
                    .set_connection_events(Some(events.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(ACTION, e))?;
            }
            NotificationAction::Modify { id, topic_arn, events } => {
                const ACTION: &str = "ModifyVpcEndpointConnectionNotification";
                self.ec2
                    .modify_vpc_endpoint_connection_notification()
                    .connection_notification_id(id)
                    .connection_notification_arn(topic_arn)
                    .set_connection_events(Some(events.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(ACTION, e))?;
            }
            NotificationAction::Delete(ids) => {
                const ACTION: &str = "DeleteVpcEndpointConnectionNotifications";
                let out = self
                    .ec2
                    .delete_vpc_endpoint_connection_notifications()
                    .set_connection_notification_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(ACTION, e))?;
                AwsError::from_unsuccessful(ACTION, out.unsuccessful())?;
            }
        }
        Ok(())
    }

    /// The access policy of an SNS topic of this region; None when the
    /// topic does not exist.
    pub async fn topic_policy(&self, topic_arn: &str) -> Result<Option<String>, AwsError> {
        const ACTION: &str = "GetTopicAttributes";
        match self.sns.get_topic_attributes().topic_arn(topic_arn).send().await {
            Ok(out) => Ok(Some(out.attributes().and_then(|a| a.get("Policy")).cloned().unwrap_or_default())),
            Err(e) => {
                let e = AwsError::from_sdk(ACTION, e);
                if e.class == ErrorClass::NotFound { Ok(None) } else { Err(e) }
            }
        }
    }
}
