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
    /// A symbolic link leads back to where it is read from: a directory
    /// that contains it, or another link that leads back to it.
    #[error("{path}: symbolic link loop (it leads back to {target}): remove the link or name the files to read")]
    Loop {
        /// The link.
        path: PathBuf,
        /// Where it leads back to.
        target: PathBuf,
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
/// are skipped), or the file `path` names whatever its extension, or
/// standard input when `path` is `-`; every document in each, in a stable
/// order. Empty documents are skipped.
pub fn read(path: &Path) -> Result<Vec<Manifest>, ReadError> {
    if path == Path::new("-") {
        return read_stdin();
    }
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        collect_yaml_files(path, &mut Vec::new(), &mut files)?;
        files.sort();
        // A file reached twice (through a link, or two links) is read once.
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    }
    let mut manifests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ReadError::Io { path: file.clone(), source })?;
        manifests.extend(parse(&text, &file)?);
    }
    Ok(manifests)
}

/// Every document of standard input (`-f -`: what `kustomize build` or
/// `helm template` pipes in), named `<stdin>` in messages.
fn read_stdin() -> Result<Vec<Manifest>, ReadError> {
    use std::io::Read;
    let name = PathBuf::from("<stdin>");
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|source| ReadError::Io { path: name.clone(), source })?;
    parse(&text, &name)
}

/// Every document of `text`, read from `file`; empty documents are skipped.
/// Whatever the text, an error names the document, never a panic (the
/// property tests feed it arbitrary text).
pub fn parse(text: &str, file: &Path) -> Result<Vec<Manifest>, ReadError> {
    let mut manifests = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        // Through YAML's own value first: it refuses a key given twice (the
        // API server's strict decoding does too; JSON would keep the last)
        // and resolves merge keys (`<<: *base`) as Kubernetes' YAML does.
        let value = serde_yaml::Value::deserialize(doc)
            .and_then(|mut v| v.apply_merge().map(|()| v))
            .and_then(serde_yaml::from_value::<Value>)
            .map_err(|source| ReadError::Yaml { path: file.to_path_buf(), document: i + 1, source })?;
        if !value.is_null() {
            manifests.push(Manifest { file: file.to_path_buf(), document: i + 1, value });
        }
    }
    Ok(manifests)
}

/// The YAML files under `path`. Links are followed — a link is someone
/// saying "read this too" — but a directory that is already being read
/// further up (`ancestors`, by real path) is a loop and refused, so a walk
/// always ends and reads nothing a path or link does not name.
fn collect_yaml_files(path: &Path, ancestors: &mut Vec<PathBuf>, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |source| ReadError::Io { path: path.to_path_buf(), source };
    if path.is_dir() {
        let real = std::fs::canonicalize(path).map_err(io)?;
        if let Some(target) = ancestors.iter().find(|a| **a == real) {
            return Err(ReadError::Loop { path: path.to_path_buf(), target: target.clone() });
        }
        ancestors.push(real);
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            collect_yaml_files(&entry.path(), ancestors, out)?;
        }
        ancestors.pop();
    } else if path.is_file() {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "yaml" | "yml") {
            out.push(path.to_path_buf());
        }
    } else {
        let error = std::fs::metadata(path)
            .err()
            .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file or directory"));
        if error.raw_os_error() == Some(libc::ELOOP) {
            let target = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
            return Err(ReadError::Loop { path: path.to_path_buf(), target });
        }
        return Err(io(error));
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
    problems.extend(unknown_envelope_fields(&manifest.value));
    for v in validate_object(&kind, &manifest.value, None) {
        problems.push((v.field, v.reason));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid { location: manifest.location(), object: format!("{kind} {}", manifest.object_ref()), problems })
    }
}

/// Fields of an object's envelope (outside `spec`).
const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
/// Fields of ObjectMeta.
const METADATA_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
];

/// Unknown fields outside `spec` (the schema checks `spec`), refused as
/// `kubectl apply` (strict field validation) refuses them; and a document
/// that is not a mapping at all.
fn unknown_envelope_fields(value: &Value) -> Vec<(String, String)> {
    let Some(object) = value.as_object() else {
        return vec![(
            "<document>".to_string(),
            "expected a mapping with apiVersion, kind, metadata and spec; found a list or a scalar".to_string(),
        )];
    };
    let mut problems = Vec::new();
    let unknown = |field: String, known: &[&str]| {
        (field.clone(), format!("unknown field {field:?}: remove it (known fields here: {})", known.join(", ")))
    };
    for key in object.keys().filter(|k| !OBJECT_FIELDS.contains(&k.as_str())) {
        problems.push(unknown(key.clone(), OBJECT_FIELDS));
    }
    match object.get("metadata") {
        Some(Value::Object(meta)) => {
            for key in meta.keys().filter(|k| !METADATA_FIELDS.contains(&k.as_str())) {
                problems.push(unknown(format!("metadata.{key}"), &["name", "namespace", "labels", "annotations"]));
            }
            if let Some(ns) = meta.get("namespace") {
                match ns.as_str() {
                    Some(n) if is_dns_label(n) => {}
                    _ => problems.push((
                        "metadata.namespace".to_string(),
                        format!("Invalid value: {ns}: must be a lowercase RFC 1123 label (at most 63 characters)"),
                    )),
                }
            }
        }
        Some(other) => problems.push(("metadata".to_string(), format!("must be a mapping, found {other}"))),
        None => {}
    }
    problems
}

fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && !name.contains('.') && is_dns_subdomain(name)
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
    fn symbolic_link_loops_are_refused_and_linked_files_read_once() {
        let dir = std::env::temp_dir().join(format!("plo-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("apps/sub")).unwrap();
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        std::fs::write(dir.join("apps/a.yaml"), "kind: A\n").unwrap();
        std::fs::write(dir.join("shared/s.yaml"), "kind: S\n").unwrap();
        std::fs::write(dir.join("outside.yaml"), "kind: Outside\n").unwrap();
        // A link that names a directory elsewhere is read; the same file
        // through two links once; nothing beside the links.
        std::os::unix::fs::symlink(dir.join("shared"), dir.join("apps/shared")).unwrap();
        std::os::unix::fs::symlink(dir.join("shared/s.yaml"), dir.join("apps/sub/s-again.yaml")).unwrap();
        let kinds: Vec<String> = read(&dir.join("apps")).unwrap().iter().map(|m| m.kind().to_string()).collect();
        assert_eq!(kinds, ["A", "S"], "{kinds:?}");
        // A link back to a directory being read: an error naming the link.
        std::os::unix::fs::symlink(dir.join("apps"), dir.join("apps/sub/back")).unwrap();
        let err = read(&dir.join("apps")).unwrap_err().to_string();
        assert!(err.contains("apps/sub/back") && err.contains("loop"), "{err}");
        // Two links pointing at each other: not a directory, not a file.
        std::fs::remove_file(dir.join("apps/sub/back")).unwrap();
        std::os::unix::fs::symlink(dir.join("apps/y"), dir.join("apps/x")).unwrap();
        std::os::unix::fs::symlink(dir.join("apps/x"), dir.join("apps/y")).unwrap();
        let err = read(&dir.join("apps")).unwrap_err().to_string();
        assert!((err.contains("apps/x") || err.contains("apps/y")) && err.contains("loop"), "{err}");
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
