//! An in-process Kubernetes API server for controller tests: the subset of
//! API semantics the operator relies on, served over HTTP on 127.0.0.1 so
//! the real kube client, watcher, controller and finalizer helper run
//! against it unchanged.
//!
//! Implemented: list and streamed watch (resourceVersion-based), get,
//! create (generateName), replace, delete; JSON patch (with `test`), merge
//! patch, server-side apply treated as merge with the field manager
//! recorded; the `status` subresource for the operator's kinds; generation
//! bumps on spec changes only; optimistic concurrency (stale
//! resourceVersion → 409); finalizers (delete sets deletionTimestamp while
//! finalizers remain); 404/409/422 errors in the Status shape; and the
//! operator's CRD schemas and CEL rules enforced on writes (→ 422).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::broadcast;

type Body = BoxBody<Bytes, Infallible>;

/// Where an object lives: collection (`group/version/plural`), namespace, name.
type Key = (String, String, String);

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    collection: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Store {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
}

/// Kinds whose schema (and status subresource) the server knows.
fn crd_kind(plural: &str) -> Option<&'static str> {
    match plural {
        "endpointservices" => Some("EndpointService"),
        "endpointconnections" => Some("EndpointConnection"),
        "interfaceendpoints" => Some("InterfaceEndpoint"),
        _ => None,
    }
}

/// A running API server.
pub struct ApiServer {
    /// Address it listens on.
    pub addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ApiServer {
    /// Start a server on a free port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let store = Arc::new(Mutex::new(Store::default()));
        let (changes, _) = broadcast::channel(4096);
        let (s, c) = (store.clone(), changes.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (s, c) = (s.clone(), c.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (s, c) = (s.clone(), c.clone());
                        async move { Ok::<_, Infallible>(handle(req, s, c).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, store, task }
    }

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().expect("url"));
        kube::Client::try_from(config).expect("kube client")
    }

    /// Every stored object of a collection (`group/version/plural`), for assertions.
    pub fn objects(&self, collection: &str) -> Vec<Value> {
        let store = self.store.lock().unwrap();
        store.objects.iter().filter(|((c, _, _), _)| c == collection).map(|(_, v)| v.clone()).collect()
    }
}

struct Path {
    collection: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Path> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Path { collection: format!("{gv}/{plural}"), plural: plural.to_string(), namespace, name, subresource: sub })
}

fn query(req: &Request<Incoming>) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn respond(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("response")
}

fn status_error(code: StatusCode, reason: &str, message: String) -> Response<Body> {
    respond(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

async fn handle(
    req: Request<Incoming>,
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<Change>,
) -> Response<Body> {
    let Some(path) = parse_path(req.uri().path()) else {
        return status_error(StatusCode::NOT_FOUND, "NotFound", format!("no route for {}", req.uri().path()));
    };
    // Only this project's kinds and what the operator writes besides them are served.
    let served = path.collection.starts_with("privatelink.dev/")
        || path.collection.starts_with("events.k8s.io/")
        || path.collection.starts_with("coordination.k8s.io/")
        || path.collection == "v1/events";
    if !served {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find {}", path.collection),
        );
    }
    let q = query(&req);
    let method = req.method().clone();
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let parsed: Option<Value> = if body.is_empty() { None } else { serde_json::from_slice(&body).ok() };

    match (method, &path.name) {
        (Method::GET, None) if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) => {
            watch(&path, &q, &store, &changes)
        }
        (Method::GET, None) => list(&path, &store),
        (Method::GET, Some(name)) => {
            let s = store.lock().unwrap();
            match s.objects.get(&(path.collection.clone(), path.namespace.clone().unwrap_or_default(), name.clone())) {
                Some(obj) => respond(StatusCode::OK, obj),
                None => not_found(&path, name),
            }
        }
        (Method::POST, None) => match parsed {
            Some(obj) => create(&path, obj, &store, &changes),
            None => status_error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON".into()),
        },
        (Method::PUT, Some(name)) => match parsed {
            Some(obj) => update(&path, name, |_| Ok(obj.clone()), true, &q, &store, &changes),
            None => status_error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON".into()),
        },
        (Method::PATCH, Some(name)) => {
            let Some(patch) = parsed else {
                return status_error(StatusCode::BAD_REQUEST, "BadRequest", "patch is not JSON".into());
            };
            let is_json_patch = content_type.starts_with("application/json-patch+json");
            let manager = q.get("fieldManager").cloned();
            update(
                &path,
                name,
                |current| {
                    let mut next = current.clone();
                    if is_json_patch {
                        apply_json_patch(&mut next, &patch)?;
                    } else {
                        merge(&mut next, &patch);
                    }
                    if let Some(m) = &manager {
                        record_manager(
                            &mut next,
                            m,
                            if content_type.contains("apply-patch") { "Apply" } else { "Update" },
                        );
                    }
                    Ok(next)
                },
                !is_json_patch,
                &q,
                &store,
                &changes,
            )
        }
        (Method::DELETE, Some(name)) => delete(&path, name, &store, &changes),
        (m, _) => status_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("{m} not supported here")),
    }
}

fn not_found(path: &Path, name: &str) -> Response<Body> {
    status_error(StatusCode::NOT_FOUND, "NotFound", format!("{} \"{name}\" not found", path.plural))
}

fn list(path: &Path, store: &Mutex<Store>) -> Response<Body> {
    let s = store.lock().unwrap();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((c, ns, _), _)| *c == path.collection && path.namespace.as_ref().is_none_or(|n| n == ns))
        .map(|(_, v)| v.clone())
        .collect();
    respond(
        StatusCode::OK,
        &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}),
    )
}

fn watch(
    path: &Path,
    q: &BTreeMap<String, String>,
    store: &Mutex<Store>,
    changes: &broadcast::Sender<Change>,
) -> Response<Body> {
    let since: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let (collection, namespace) = (path.collection.clone(), path.namespace.clone());
    let matches = move |c: &Change| c.collection == collection && namespace.as_ref().is_none_or(|n| *n == c.namespace);
    // Subscribe under the lock so no change falls between history and live feed.
    let (backlog, rx) = {
        let s = store.lock().unwrap();
        let rx = changes.subscribe();
        let backlog: Vec<Change> = s.history.iter().filter(|c| c.rv > since && matches(c)).cloned().collect();
        (backlog, rx)
    };
    let line = |c: &Change| Bytes::from(format!("{}\n", json!({"type": c.kind, "object": c.object})));
    let first = futures::stream::iter(backlog.iter().map(line).collect::<Vec<_>>());
    let live = futures::stream::unfold((rx, matches), move |(mut rx, matches)| async move {
        loop {
            match rx.recv().await {
                Ok(c) if matches(&c) && c.rv > since => return Some((line(&c), (rx, matches))),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = first.chain(live).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("response")
}

fn publish(s: &mut Store, changes: &broadcast::Sender<Change>, key: &Key, kind: &'static str, object: Value) {
    let change = Change { rv: s.rv, collection: key.0.clone(), namespace: key.1.clone(), kind, object };
    s.history.push(change.clone());
    let _ = changes.send(change);
}

/// The 422 response for an object its schema refuses, if any.
fn validate(path: &Path, obj: &Value, old: Option<&Value>) -> Option<Response<Body>> {
    let kind = crd_kind(&path.plural)?;
    let violations = privatelink_operator::api::schema::validate_object(kind, obj, old);
    if violations.is_empty() {
        return None;
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let details: Vec<String> = violations.iter().map(ToString::to_string).collect();
    Some(status_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind}.privatelink.dev \"{name}\" is invalid: {}", details.join(", ")),
    ))
}

fn create(path: &Path, mut obj: Value, store: &Mutex<Store>, changes: &broadcast::Sender<Change>) -> Response<Body> {
    let mut s = store.lock().unwrap();
    let ns = path.namespace.clone().unwrap_or_default();
    let name = match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => match obj.pointer("/metadata/generateName").and_then(Value::as_str) {
            Some(prefix) => format!("{prefix}{:05x}", s.uid + 1),
            None => {
                return status_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "metadata.name: Required value".into(),
                );
            }
        },
    };
    let key = (path.collection.clone(), ns.clone(), name.clone());
    if s.objects.contains_key(&key) {
        return status_error(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", path.plural),
        );
    }
    if crd_kind(&path.plural).is_some()
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    if let Some(resp) = validate(path, &obj, None) {
        return resp;
    }
    s.rv += 1;
    s.uid += 1;
    let meta = obj.as_object_mut().and_then(|o| {
        o.entry("metadata").or_insert_with(|| json!({}));
        o.get_mut("metadata").and_then(Value::as_object_mut)
    });
    if let Some(meta) = meta {
        meta.insert("name".into(), json!(name));
        if path.namespace.is_some() {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), json!(format!("00000000-0000-4000-8000-{:012x}", s.uid)));
        meta.insert("resourceVersion".into(), json!(s.rv.to_string()));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(privatelink_operator::controller::now()));
    }
    s.objects.insert(key.clone(), obj.clone());
    publish(&mut s, changes, &key, "ADDED", obj.clone());
    respond(StatusCode::CREATED, &obj)
}

fn stripped(v: &Value, drop: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in drop {
            o.remove(*k);
        }
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn update(
    path: &Path,
    name: &str,
    change: impl FnOnce(&Value) -> Result<Value, String>,
    check_rv: bool,
    _q: &BTreeMap<String, String>,
    store: &Mutex<Store>,
    changes: &broadcast::Sender<Change>,
) -> Response<Body> {
    let mut s = store.lock().unwrap();
    let key = (path.collection.clone(), path.namespace.clone().unwrap_or_default(), name.to_string());
    let Some(current) = s.objects.get(&key).cloned() else { return not_found(path, name) };
    let mut next = match change(&current) {
        Ok(v) => v,
        Err(e) => return status_error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e),
    };
    let current_rv = current.pointer("/metadata/resourceVersion").cloned();
    if check_rv
        && let Some(rv) = next.pointer("/metadata/resourceVersion")
        && Some(rv) != current_rv.as_ref()
    {
        return status_error(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                path.plural
            ),
        );
    }
    let has_status = crd_kind(&path.plural).is_some();
    let status_write = path.subresource.as_deref() == Some("status");
    if has_status {
        let Some(o) = next.as_object_mut() else {
            return status_error(StatusCode::BAD_REQUEST, "BadRequest", "object expected".into());
        };
        if status_write {
            // Only status changes through the status subresource.
            let status = o.get("status").cloned();
            let mut kept = current.clone();
            if let Some(k) = kept.as_object_mut() {
                match status {
                    Some(st) => k.insert("status".into(), st),
                    None => k.remove("status"),
                };
            }
            next = kept;
        } else {
            // Spec writes ignore status.
            match current.get("status") {
                Some(st) => o.insert("status".into(), st.clone()),
                None => o.remove("status"),
            };
        }
    }
    // Fields only the server sets.
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"] {
        let ptr = format!("/metadata/{field}");
        if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
            match current.pointer(&ptr) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
    }
    if !status_write && let Some(resp) = validate(path, &next, Some(&current)) {
        return resp;
    }
    let ignore = ["metadata", "status"];
    let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let spec_changed = stripped(&current, &ignore) != stripped(&next, &ignore);
    let mut compare_next = next.clone();
    if let Some(meta) = compare_next.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), current_rv.clone().unwrap_or(Value::Null));
        meta.insert("generation".into(), json!(generation));
    }
    if compare_next == current {
        return respond(StatusCode::OK, &current);
    }
    s.rv += 1;
    if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(s.rv.to_string()));
        meta.insert("generation".into(), json!(if spec_changed { generation + 1 } else { generation }));
    }
    let finalizers_left = next.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if next.pointer("/metadata/deletionTimestamp").is_some() && !finalizers_left {
        s.objects.remove(&key);
        publish(&mut s, changes, &key, "DELETED", next.clone());
    } else {
        s.objects.insert(key.clone(), next.clone());
        publish(&mut s, changes, &key, "MODIFIED", next.clone());
    }
    respond(StatusCode::OK, &next)
}

fn delete(path: &Path, name: &str, store: &Mutex<Store>, changes: &broadcast::Sender<Change>) -> Response<Body> {
    let mut s = store.lock().unwrap();
    let key = (path.collection.clone(), path.namespace.clone().unwrap_or_default(), name.to_string());
    let Some(mut obj) = s.objects.get(&key).cloned() else { return not_found(path, name) };
    let has_finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    s.rv += 1;
    if has_finalizers {
        if obj.pointer("/metadata/deletionTimestamp").is_none() {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("deletionTimestamp".into(), json!(privatelink_operator::controller::now()));
                meta.insert("resourceVersion".into(), json!(s.rv.to_string()));
            }
            s.objects.insert(key.clone(), obj.clone());
            publish(&mut s, changes, &key, "MODIFIED", obj.clone());
        }
        respond(StatusCode::ACCEPTED, &obj)
    } else {
        s.objects.remove(&key);
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(s.rv.to_string()));
        }
        publish(&mut s, changes, &key, "DELETED", obj.clone());
        respond(StatusCode::OK, &obj)
    }
}

fn record_manager(obj: &mut Value, manager: &str, operation: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let fields = meta.entry("managedFields").or_insert_with(|| json!([]));
    if let Some(list) = fields.as_array_mut() {
        list.retain(|f| f.get("manager").and_then(Value::as_str) != Some(manager));
        list.push(json!({"manager": manager, "operation": operation}));
    }
}

/// JSON merge patch (RFC 7386).
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn pointer_parts(path: &str) -> Vec<String> {
    path.split('/').skip(1).map(|p| p.replace("~1", "/").replace("~0", "~")).collect()
}

/// JSON patch (RFC 6902): add, remove, replace, test.
pub fn apply_json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("JSON patch must be a list")? {
        let kind = op.get("op").and_then(Value::as_str).ok_or("op missing")?;
        let path = op.get("path").and_then(Value::as_str).ok_or("path missing")?;
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        let parts = pointer_parts(path);
        if kind == "test" {
            // A missing path tests equal to null, as the API server does.
            if doc.pointer(path).unwrap_or(&Value::Null) != &value {
                return Err(format!(
                    "the server rejected our request due to an error in our request: test failed at {path}"
                ));
            }
            continue;
        }
        let (last, parents) = parts.split_last().ok_or("empty path")?;
        let mut parent = &mut *doc;
        for p in parents {
            parent = match parent {
                Value::Object(o) => o.get_mut(p).ok_or(format!("path {path} does not exist"))?,
                Value::Array(a) => a
                    .get_mut(p.parse::<usize>().map_err(|e| e.to_string())?)
                    .ok_or(format!("path {path} does not exist"))?,
                _ => return Err(format!("path {path} does not exist")),
            };
        }
        match (kind, parent) {
            ("add", Value::Object(o)) | ("replace", Value::Object(o)) => {
                if kind == "replace" && !o.contains_key(last) {
                    return Err(format!("replace: {path} does not exist"));
                }
                o.insert(last.clone(), value);
            }
            ("add", Value::Array(a)) => {
                if last == "-" {
                    a.push(value);
                } else {
                    let i: usize = last.parse().map_err(|e: std::num::ParseIntError| e.to_string())?;
                    if i > a.len() {
                        return Err(format!("add: index {i} out of range"));
                    }
                    a.insert(i, value);
                }
            }
            ("replace", Value::Array(a)) => {
                let i: usize = last.parse().map_err(|e: std::num::ParseIntError| e.to_string())?;
                *a.get_mut(i).ok_or(format!("replace: index {i} out of range"))? = value;
            }
            ("remove", Value::Object(o)) => {
                o.remove(last).ok_or(format!("remove: {path} does not exist"))?;
            }
            ("remove", Value::Array(a)) => {
                let i: usize = last.parse().map_err(|e: std::num::ParseIntError| e.to_string())?;
                if i >= a.len() {
                    return Err(format!("remove: index {i} out of range"));
                }
                a.remove(i);
            }
            (other, _) => return Err(format!("unsupported JSON patch op {other} at {path}")),
        }
    }
    Ok(())
}
