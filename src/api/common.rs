//! Types and schema patterns shared by the three kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// AWS region name, e.g. `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub const REGION_PATTERN: &str = r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$";
/// IAM role ARN in any partition.
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$";
/// VPC endpoint service id (`vpce-svc-…`).
pub const SERVICE_ID_PATTERN: &str = r"^vpce-svc-[0-9a-f]{8,17}$";
/// VPC endpoint id (`vpce-…`).
pub const ENDPOINT_ID_PATTERN: &str = r"^vpce-[0-9a-f]{8,17}$";
/// Twelve-digit AWS account id.
pub const ACCOUNT_ID_PATTERN: &str = r"^[0-9]{12}$";

/// Region-name prefixes of the AWS partitions other than `aws` (`aws-cn`,
/// `aws-us-gov`, the isolated ones, the European Sovereign Cloud). PrivateLink never crosses partitions.
pub const PARTITION_PREFIXES: &[(&str, &str)] = &[
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("eusc-", "aws-eusc"),
];

/// The AWS partition of a region (`aws` unless a known prefix says otherwise).
pub fn partition_of(region: &str) -> &'static str {
    PARTITION_PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map(|(_, p)| *p).unwrap_or("aws")
}

/// A CEL expression true when regions `a` and `b` (CEL expressions) are in
/// the same partition, for `x-kubernetes-validations` rules.
pub fn same_partition_cel(a: &str, b: &str) -> String {
    PARTITION_PREFIXES
        .iter()
        .map(|(prefix, _)| format!("{a}.startsWith('{prefix}') == {b}.startsWith('{prefix}')"))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// What happens in AWS when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete (or, for a connection, reject) the AWS resource, in the order AWS requires.
    #[default]
    Delete,
    /// Leave the AWS resource as it is and only remove the Kubernetes object.
    Retain,
}

impl DeletionPolicy {
    /// True when deleting the object must leave AWS untouched.
    pub fn retains(self) -> bool {
        self == DeletionPolicy::Retain
    }
}

/// A reference to another object of this API in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// AWS allows 50 tags per resource; the operator adds 5 ownership tags
/// (managed-by, cluster, namespace, name, uid).
pub const MAX_USER_TAGS: usize = 45;

/// Schema for a set of AWS tags: at most 45 (50 with the ownership tags), keys up to 128 and values up to
/// 256 characters, and no key in the reserved `aws:` namespace.
pub fn tags_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "AWS tags to set on the resource, in addition to the 5 ownership tags the operator adds. At most 45, so the total stays within AWS's 50 per resource; keys may not start with `aws:` or `privatelink.dev/`.",
        "maxProperties": MAX_USER_TAGS,
        "additionalProperties": {"type": "string", "maxLength": 256},
        "x-kubernetes-validations": [
            {"rule": "self.all(k, size(k) >= 1 && size(k) <= 128)", "message": "tag keys must be 1 to 128 characters long"},
            {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('privatelink.dev/'))", "message": "tag keys starting with `aws:` are reserved by AWS and `privatelink.dev/` by the operator"}
        ]
    })
}

/// Schema for a list of strings that is a set (order does not matter, no
/// duplicates), each matching `pattern`, at most `max` items.
pub fn string_set(pattern: &str, max: u32, description: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "description": description,
        "maxItems": max,
        "x-kubernetes-list-type": "set",
        "items": {"type": "string", "pattern": pattern}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_regions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of("us-iso-east-1"), "aws-iso");
        assert!(same_partition_cel("a", "b").contains("a.startsWith('cn-') == b.startsWith('cn-')"));
    }
}
