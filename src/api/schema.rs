//! Offline validation of objects against the generated CRD schemas: the
//! OpenAPI constraints the API server checks (types, required fields,
//! patterns, enums, lengths, list sets and maps) and, through `kube-cel`, the
//! `x-kubernetes-validations` CEL rules. `plan` and the tests use it so they
//! refuse exactly what `kubectl apply` would.

use std::collections::HashSet;

use regex::Regex;
use serde_json::Value;

use super::crds;

/// One reason an object does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON path of the field, e.g. `spec.allowedPrincipals[0]`.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// The `openAPIV3Schema` of the CRD for `kind`, if it is one of ours.
pub fn schema_for_kind(kind: &str) -> Option<Value> {
    crds().into_iter().find(|crd| crd.spec.names.kind == kind).and_then(|crd| {
        let version = crd.spec.versions.into_iter().next()?;
        let schema = version.schema?.open_api_v3_schema?;
        serde_json::to_value(schema).ok()
    })
}

/// Validate `object` (a whole custom resource) against the schema of its
/// kind; `old` is the previous version for transition rules (`oldSelf`).
/// Returns every violation found, structural ones first.
pub fn validate_object(kind: &str, object: &Value, old: Option<&Value>) -> Vec<SchemaViolation> {
    let Some(schema) = schema_for_kind(kind) else {
        return vec![SchemaViolation {
            field: "kind".into(),
            reason: format!("unknown kind {kind:?}: expected EndpointService, EndpointConnection or InterfaceEndpoint"),
        }];
    };
    // Only spec is user input; metadata and status are the API server's.
    let mut checked = serde_json::Map::new();
    if let Some(spec) = object.get("spec") {
        checked.insert("spec".into(), spec.clone());
    }
    let checked = Value::Object(checked);
    let spec_schema = schema.pointer("/properties/spec").cloned().unwrap_or(Value::Null);
    let mut violations = Vec::new();
    match object.get("spec") {
        None => violations.push(SchemaViolation { field: "spec".into(), reason: "Required value".into() }),
        Some(spec) => check(&spec_schema, spec, "spec", &mut violations),
    }
    if violations.is_empty() {
        let old_checked = old.map(|o| serde_json::json!({"spec": o.get("spec").cloned().unwrap_or(Value::Null)}));
        let root = serde_json::json!({"type": "object", "properties": {"spec": spec_schema}});
        if let Err(errors) = kube_cel::validate(&root, &checked, old_checked.as_ref()) {
            for e in errors.into_vec() {
                violations.push(SchemaViolation { field: e.field_path.clone(), reason: e.message.clone() });
            }
        }
    }
    violations
}

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<SchemaViolation>) {
    let mut fail = |reason: String| out.push(SchemaViolation { field: path.to_string(), reason });
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            fail("must not be null".into());
        }
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        _ => true,
    };
    if !type_ok {
        fail(format!("Invalid value: must be of type {}", ty.unwrap_or("?")));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        fail(format!("Unsupported value: {value}: supported values: {}", names.join(", ")));
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                fail(format!("Too long: may not be longer than {max}"));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                fail(format!("Invalid value: should be at least {min} chars long"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => fail(format!("Invalid value: {s:?}: should match '{pattern}'")),
                    Ok(_) => {}
                    Err(e) => fail(format!("schema pattern {pattern:?} does not compile: {e}")),
                }
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                fail(format!("Too many: {len}: must have at most {max} items"));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                fail(format!("Invalid value: {len}: should have at least {min} items"));
            }
            match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => {
                    let mut seen = HashSet::new();
                    for (i, item) in items.iter().enumerate() {
                        if !seen.insert(item.to_string()) {
                            out.push(SchemaViolation {
                                field: format!("{path}[{i}]"),
                                reason: format!("Duplicate value: {item}"),
                            });
                        }
                    }
                }
                Some("map") => {
                    let keys: Vec<&str> = schema
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|k| k.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let mut seen = HashSet::new();
                    for (i, item) in items.iter().enumerate() {
                        let key: Vec<String> =
                            keys.iter().map(|k| item.get(*k).map(Value::to_string).unwrap_or_default()).collect();
                        if !seen.insert(key.clone()) {
                            out.push(SchemaViolation {
                                field: format!("{path}[{i}]"),
                                reason: format!(
                                    "Duplicate value: {{{}}}",
                                    keys.iter()
                                        .zip(&key)
                                        .map(|(k, v)| format!("{k}: {v}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            });
                        }
                    }
                }
                _ => {}
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && map.len() as u64 > max
            {
                fail(format!("Too many: {}: must have at most {max} items", map.len()));
            }
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = required.as_str()
                    && !map.contains_key(name)
                {
                    out.push(SchemaViolation { field: format!("{path}.{name}"), reason: "Required value".into() });
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, item) in map {
                let child = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(s), _) => check(s, item, &child, out),
                    (None, Some(s)) if s.is_object() => check(s, item, &child, out),
                    _ if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {}
                    _ => out.push(SchemaViolation {
                        field: child,
                        reason: "unknown field (the API server would drop it)".into(),
                    }),
                }
            }
        }
        _ => {}
    }
}
