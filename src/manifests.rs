//! Reading manifests from files and checking them as the API server and the
//! operator would: the CRD schema with its CEL rules, then the semantic
//! checks of the plan core. Used by `privatelink-operator plan`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::api::{self, schema::validate_object};

/// One YAML document read from a file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// File it came from.
    pub file: PathBuf,
    /// Position of the document in the file, from 1.
    pub document: usize,
    /// The document as JSON.
    pub value: Value,
}

impl Manifest {
    /// `kind` of the document.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// `namespace/name` of the document (namespace `default` when unset).
    pub fn object_ref(&self) -> String {
        let meta = self.value.get("metadata");
        let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("<unnamed>");
        let ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("default");
        format!("{ns}/{name}")
    }

    /// `file#document` for messages.
    pub fn location(&self) -> String {
        format!("{} (document {})", self.file.display(), self.document)
    }
}

/// A manifest that cannot be applied, with every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// File and document.
    pub location: String,
    /// Kind and `namespace/name`.
    pub object: String,
    /// Field and reason, one per problem.
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} is invalid:", self.location, self.object)?;
        for (field, reason) in &self.problems {
            writeln!(f, "  - {field}: {reason}")?;
        }
        Ok(())
    }
}

/// Errors reading manifests.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A document is not YAML.
    #[error("{path} (document {document}): not valid YAML: {source}")]
    Yaml {
        /// Path.
        path: PathBuf,
        /// Position from 1.
        document: usize,
        /// Cause.
        source: serde_yaml::Error,
    },
}

/// Read every `.yaml`/`.yml` file under `path` (other files in a directory
/// are skipped), or the file `path` names whatever its extension; every
/// document in each, in a stable order. Empty documents are skipped.
pub fn read(path: &Path) -> Result<Vec<Manifest>, ReadError> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        collect_yaml_files(path, &mut files)?;
        files.sort();
    }
    let mut manifests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ReadError::Io { path: file.clone(), source })?;
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(doc).map_err(|source| ReadError::Yaml {
                path: file.clone(),
                document: i + 1,
                source,
            })?;
            if !value.is_null() {
                manifests.push(Manifest { file: file.clone(), document: i + 1, value });
            }
        }
    }
    Ok(manifests)
}

fn collect_yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |source| ReadError::Io { path: path.to_path_buf(), source };
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            collect_yaml_files(&entry.path(), out)?;
        }
    } else if path.is_file() {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "yaml" | "yml") {
            out.push(path.to_path_buf());
        }
    } else {
        return Err(io(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory")));
    }
    Ok(())
}

/// Check the envelope and the schema (with CEL rules) of one manifest.
pub fn check_schema(manifest: &Manifest) -> Result<(), Invalid> {
    let kind = manifest.kind().to_string();
    let mut problems = Vec::new();
    match manifest.value.get("apiVersion").and_then(Value::as_str) {
        Some(api::API_VERSION) => {}
        other => problems.push((
            "apiVersion".to_string(),
            format!("expected {:?}, found {:?}", api::API_VERSION, other.unwrap_or("")),
        )),
    }
    let name = manifest.value.pointer("/metadata/name").and_then(Value::as_str);
    match name {
        None => problems.push(("metadata.name".to_string(), "Required value".to_string())),
        Some(n) if !is_dns_subdomain(n) => problems.push((
            "metadata.name".to_string(),
            format!("Invalid value: {n:?}: must be a lowercase RFC 1123 subdomain"),
        )),
        Some(_) => {}
    }
    for v in validate_object(&kind, &manifest.value, None) {
        problems.push((v.field, v.reason));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid { location: manifest.location(), object: format!("{kind} {}", manifest.object_ref()), problems })
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_yield_only_yaml_files_and_a_named_file_is_read() {
        let dir = std::env::temp_dir().join(format!("plo-manifests-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.yaml"), "kind: A\n").unwrap();
        std::fs::write(dir.join("sub/b.yml"), "kind: B\n---\nkind: C\n").unwrap();
        std::fs::write(dir.join("README.md"), "# not: [yaml\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "{{{").unwrap();
        let kinds: Vec<String> = read(&dir).unwrap().iter().map(|m| m.kind().to_string()).collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        assert!(read(&dir.join("notes.txt")).is_err(), "a file named on purpose is read, and refused if not YAML");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dns_subdomain_names() {
        assert!(is_dns_subdomain("api.team-a"));
        assert!(!is_dns_subdomain("Api"));
        assert!(!is_dns_subdomain("-x"));
        assert!(!is_dns_subdomain(""));
    }
}
