//! `Front`: a small HTTP/1.1 reverse proxy, in plain std, that stands in
//! front of a real registry (Debian's docker-registry on 127.0.0.1) and adds
//! what a plain local registry never does, but Docker Hub and the big
//! registries do:
//!
//! - **anonymous Bearer token auth**: `/v2/...` without a valid
//!   `Authorization: Bearer TOKEN` answers 401 with a `WWW-Authenticate:
//!   Bearer realm="...",service="...",scope="repository:REPO:pull"`
//!   challenge; the realm (`/token` on the front) hands out tokens, each
//!   valid only for the scopes asked;
//! - **blob redirects**: `GET`/`HEAD /v2/REPO/blobs/DIGEST` answers
//!   `307 Temporary Redirect` to a second listener on another host
//!   (`127.0.0.2` or `localhost`, and another port), like blob storage or a
//!   CDN. That host must never see the registry's `Authorization` header: it
//!   answers 400 and records a violation if one arrives;
//! - **rate limiting**: the first N requests to a path answer
//!   `429 Too Many Requests` with `Retry-After`.
//!
//! Everything else is forwarded to the upstream registry: method, path,
//! query, `Accept`/`Content-Type`/`Range` and any body; the answer comes back
//! with its status, `Content-Type`, `Content-Length`, `Docker-Content-Digest`
//! and body, streamed. Every answer carries `Connection: close`.
//!
//! What the front and the blob host saw is kept for assertions:
//! [`Front::requests`], [`Front::blob_requests`], [`Front::token_requests`],
//! [`Front::throttled`], [`Front::violations`]; [`Front::report`] prints it
//! all for a failure message.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a connection may sit idle before the front gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- config

/// Which field of the token endpoint's JSON answer holds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    /// `{"token": "..."}` (distribution's spec).
    Token,
    /// `{"access_token": "..."}` (OAuth2 style).
    AccessToken,
    /// Both, the same value (what Docker Hub's auth.docker.io sends).
    Both,
}

/// The anonymous Bearer token flow.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// The `service` of the challenge; the token endpoint refuses (400)
    /// any other value it is asked for.
    pub service: String,
    /// The token endpoint's path on the front (the realm is
    /// `http://127.0.0.1:PORT` + this).
    pub path: String,
    pub field: TokenField,
    /// `Some(401 | 403)`: the token endpoint refuses every request.
    pub refuse: Option<u16>,
}

/// The host name the blob redirects point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobHost {
    /// `127.0.0.2` (the blob host listens there).
    Loopback2,
    /// `localhost` (the blob host listens on 127.0.0.1).
    Localhost,
}

/// `429 Too Many Requests` for the first `count` requests whose path starts
/// with `path_prefix` (after auth: a request the front answers 401 does not
/// count).
#[derive(Debug, Clone)]
pub struct Throttle {
    pub path_prefix: String,
    pub count: usize,
    /// The `Retry-After` value, in seconds.
    pub retry_after: u64,
}

/// What the front does besides forwarding. The default forwards everything.
#[derive(Debug, Clone, Default)]
pub struct FrontConfig {
    pub auth: Option<TokenAuth>,
    pub redirect: Option<BlobHost>,
    pub throttle: Option<Throttle>,
}

impl FrontConfig {
    pub fn new() -> FrontConfig {
        FrontConfig::default()
    }

    /// Require Bearer tokens for `service`, the token answered in `field`.
    pub fn token_auth(mut self, service: &str, field: TokenField) -> FrontConfig {
        self.auth = Some(TokenAuth {
            service: service.to_string(),
            path: "/token".to_string(),
            field,
            refuse: None,
        });
        self
    }

    /// Serve the token endpoint at `path` instead of `/token` (needs
    /// [`token_auth`](Self::token_auth) first).
    pub fn token_path(mut self, path: &str) -> FrontConfig {
        self.auth
            .as_mut()
            .expect("token_path needs token_auth first")
            .path = path.to_string();
        self
    }

    /// The token endpoint answers `status` (401 or 403) to every request.
    pub fn refuse_tokens(mut self, status: u16) -> FrontConfig {
        self.auth
            .as_mut()
            .expect("refuse_tokens needs token_auth first")
            .refuse = Some(status);
        self
    }

    /// Redirect blobs (307) to a second listener on `host`.
    pub fn redirect_blobs(mut self, host: BlobHost) -> FrontConfig {
        self.redirect = Some(host);
        self
    }

    /// The first `count` requests to paths starting with `path_prefix`
    /// answer 429 with `Retry-After: 1`.
    pub fn throttle(mut self, path_prefix: &str, count: usize) -> FrontConfig {
        self.throttle = Some(Throttle {
            path_prefix: path_prefix.to_string(),
            count,
            retry_after: 1,
        });
        self
    }
}

// ---------------------------------------------------------------- observations

/// One request the front or the blob host answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Every header, names as sent.
    pub headers: Vec<(String, String)>,
    /// The status answered.
    pub status: u16,
}

impl Seen {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// One request to the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub at: Instant,
    /// The raw query string.
    pub query: String,
    /// `service`, decoded.
    pub service: Option<String>,
    /// Every `scope` value, decoded (a space-separated value is split).
    pub scopes: Vec<String>,
    /// The `Authorization` header, if any (anonymous clients send none).
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    requests: Vec<Seen>,
    blob_requests: Vec<Seen>,
    token_requests: Vec<TokenRequest>,
    violations: Vec<String>,
    /// Token -> the scopes it was issued for.
    tokens: HashMap<String, Vec<String>>,
    /// Signature of a redirect -> (repository, digest) it allows.
    signatures: HashMap<String, (String, String)>,
    /// How many requests the throttle has answered 429.
    throttled: usize,
}

struct Shared {
    cfg: FrontConfig,
    /// `host:port` of the upstream registry.
    upstream: String,
    /// `127.0.0.1:PORT` of the front.
    front_addr: SocketAddr,
    /// `host:port` the redirects point to.
    blob_authority: String,
    state: Mutex<State>,
    counter: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh, unguessable-enough string for tokens and signatures.
    fn fresh(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "{what}{n}x{:x}",
            nanos ^ ((std::process::id() as u128) << 64)
        )
    }
}

// ---------------------------------------------------------------- the front

/// A running front; stops (its listeners) when dropped.
pub struct Front {
    shared: Arc<Shared>,
    blob_addr: Option<SocketAddr>,
}

impl Front {
    /// Starts a front on 127.0.0.1:random before `upstream`
    /// (`http://HOST:PORT` of a registry).
    pub fn start(upstream: &str, cfg: FrontConfig) -> Front {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("upstream must be http://HOST:PORT, got {upstream:?}"))
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the front on 127.0.0.1");
        let front_addr = listener.local_addr().expect("front address");
        let blob_listener = cfg.redirect.map(|host| {
            let ip = match host {
                BlobHost::Loopback2 => "127.0.0.2:0",
                BlobHost::Localhost => "127.0.0.1:0",
            };
            let l =
                TcpListener::bind(ip).unwrap_or_else(|e| panic!("binding the blob host {ip}: {e}"));
            let port = l.local_addr().expect("blob host address").port();
            let name = match host {
                BlobHost::Loopback2 => "127.0.0.2",
                BlobHost::Localhost => "localhost",
            };
            (l, format!("{name}:{port}"))
        });
        let blob_addr = blob_listener
            .as_ref()
            .map(|(l, _)| l.local_addr().expect("blob host address"));
        let shared = Arc::new(Shared {
            cfg,
            upstream: authority,
            front_addr,
            blob_authority: blob_listener
                .as_ref()
                .map(|(_, a)| a.clone())
                .unwrap_or_default(),
            state: Mutex::new(State::default()),
            counter: AtomicU64::new(1),
            stop: AtomicBool::new(false),
        });
        serve(listener, Arc::clone(&shared), handle_front);
        if let Some((l, _)) = blob_listener {
            serve(l, Arc::clone(&shared), handle_blob_host);
        }
        Front { shared, blob_addr }
    }

    /// `127.0.0.1:PORT`: the registry part of an image name.
    pub fn addr(&self) -> String {
        self.shared.front_addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.front_addr)
    }

    /// `127.0.0.1:PORT/NAME` (e.g. `image("front/busybox:1")`).
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr())
    }

    /// The token endpoint's URL (the challenge's realm).
    pub fn realm(&self) -> String {
        let path = self
            .shared
            .cfg
            .auth
            .as_ref()
            .map(|a| a.path.as_str())
            .unwrap_or("/token");
        format!("{}{path}", self.url())
    }

    /// `host:port` that blob redirects point to (empty without redirects).
    pub fn blob_authority(&self) -> String {
        self.shared.blob_authority.clone()
    }

    /// Every request the front answered (token endpoint included), in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.state().requests.clone()
    }

    /// Every request the blob host answered, in order.
    pub fn blob_requests(&self) -> Vec<Seen> {
        self.shared.state().blob_requests.clone()
    }

    /// Every request to the token endpoint, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.state().token_requests.clone()
    }

    /// Requests that broke a rule (Authorization sent to the blob host).
    pub fn violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }

    /// The requests to the throttled path prefix, in order (429s and the
    /// retries that followed), 401s excluded.
    pub fn throttled(&self) -> Vec<Seen> {
        let Some(t) = &self.shared.cfg.throttle else {
            return Vec::new();
        };
        self.requests()
            .into_iter()
            .filter(|s| s.path().starts_with(&t.path_prefix) && s.status != 401)
            .collect()
    }

    /// Everything seen, one request a line, for failure messages.
    pub fn report(&self) -> String {
        let st = self.shared.state();
        let t0 = st
            .requests
            .first()
            .map(|s| s.at)
            .unwrap_or_else(Instant::now);
        let since = |at: Instant| at.saturating_duration_since(t0).as_secs_f64();
        let mut out = String::new();
        let _ = writeln!(out, "front {} saw:", self.shared.front_addr);
        for s in &st.requests {
            let _ = writeln!(
                out,
                "  +{:.3}s {} {} -> {} (authorization: {:?}, accept: {:?})",
                since(s.at),
                s.method,
                s.target,
                s.status,
                s.header("authorization"),
                s.header("accept"),
            );
        }
        if self.blob_addr.is_some() {
            let _ = writeln!(out, "blob host {} saw:", self.shared.blob_authority);
            for s in &st.blob_requests {
                let _ = writeln!(
                    out,
                    "  +{:.3}s {} {} -> {} headers {:?}",
                    since(s.at),
                    s.method,
                    s.target,
                    s.status,
                    s.headers
                );
            }
        }
        for t in &st.token_requests {
            let _ = writeln!(
                out,
                "token request +{:.3}s ?{} -> {} (service {:?}, scopes {:?}, authorization {:?})",
                since(t.at),
                t.query,
                t.status,
                t.service,
                t.scopes,
                t.authorization
            );
        }
        for v in &st.violations {
            let _ = writeln!(out, "VIOLATION: {v}");
        }
        out
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops so they see the flag and end.
        let _ = TcpStream::connect_timeout(&self.shared.front_addr, Duration::from_secs(1));
        if let Some(a) = self.blob_addr {
            let _ = TcpStream::connect_timeout(&a, Duration::from_secs(1));
        }
    }
}

type Handler = fn(&Shared, &mut TcpStream, Request) -> io::Result<u16>;

/// Accepts connections in a thread, one thread per connection, one request
/// per connection (`Connection: close`).
fn serve(listener: TcpListener, shared: Arc<Shared>, handler: Handler) {
    thread::spawn(move || {
        for conn in listener.incoming() {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut stream) = conn else { continue };
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let request = match read_request(&mut stream) {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(_) => {
                        let _ = respond(&mut stream, 400, &[], b"bad request\n");
                        return;
                    }
                };
                let _ = handler(&shared, &mut stream, request);
                let _ = stream.flush();
                let _ = stream.shutdown(Shutdown::Write);
                // Let the client read everything before the socket closes
                // (a close with unread input would reset the connection).
                let mut sink = [0u8; 1024];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
}

// ---------------------------------------------------------------- front handler

fn handle_front(sh: &Shared, client: &mut TcpStream, req: Request) -> io::Result<u16> {
    let at = Instant::now();
    let result = route_front(sh, client, &req);
    let status = *result.as_ref().unwrap_or(&0);
    sh.state().requests.push(Seen {
        at,
        method: req.method.clone(),
        target: req.target.clone(),
        headers: req.headers.clone(),
        status,
    });
    result
}

fn route_front(sh: &Shared, client: &mut TcpStream, req: &Request) -> io::Result<u16> {
    let path = req.path();
    if let Some(auth) = &sh.cfg.auth {
        if path == auth.path {
            return token_endpoint(sh, auth, client, req);
        }
        if path.starts_with("/v2/") || path == "/v2" {
            let repo = repository_of(path);
            if let Some(status) = check_token(sh, auth, client, req, repo.as_deref())? {
                return Ok(status);
            }
        }
    }
    if let Some(t) = &sh.cfg.throttle {
        if path.starts_with(&t.path_prefix) {
            let throttle = {
                let mut st = sh.state();
                let hit = st.throttled < t.count;
                if hit {
                    st.throttled += 1;
                }
                hit
            };
            if throttle {
                return respond(
                    client,
                    429,
                    &[
                        ("Retry-After", t.retry_after.to_string()),
                        ("Content-Type", "application/json".into()),
                    ],
                    br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit. Slow down."}]}"#,
                );
            }
        }
    }
    if sh.cfg.redirect.is_some() && (req.method == "GET" || req.method == "HEAD") {
        if let Some((repo, digest)) = blob_of(path) {
            let sig = sh.fresh("sig");
            sh.state()
                .signatures
                .insert(sig.clone(), (repo.clone(), digest.clone()));
            let location = format!("http://{}/blob/{digest}?sig={sig}", sh.blob_authority);
            return respond(
                client,
                307,
                &[
                    ("Location", location),
                    ("Content-Type", "text/html; charset=utf-8".into()),
                ],
                b"<a href=\"elsewhere\">Temporary Redirect</a>.\n",
            );
        }
    }
    proxy(
        sh,
        client,
        &req.method,
        &req.target,
        &req.headers,
        &req.body,
    )
}

/// The repository a `/v2/REPO/{manifests,blobs,tags}/...` path names.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|k| rest.rfind(k))
        .max()
        .map(|i| rest[..i].to_string())
        .filter(|r| !r.is_empty())
}

/// `(repository, digest)` of a `/v2/REPO/blobs/DIGEST` path (uploads not).
fn blob_of(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v2/")?;
    let i = rest.rfind("/blobs/")?;
    let digest = &rest[i + "/blobs/".len()..];
    if digest.is_empty() || digest.contains('/') || digest == "uploads" {
        return None;
    }
    Some((rest[..i].to_string(), digest.to_string()))
}

/// Whether `scopes` grants pull on `repo`.
fn grants_pull(scopes: &[String], repo: &str) -> bool {
    scopes.iter().any(|s| {
        // repository:NAME:ACTIONS; NAME may hold ':' only before a port,
        // which repository names never have: split at the last ':'.
        let Some(rest) = s.strip_prefix("repository:") else {
            return false;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            return false;
        };
        name == repo && actions.split(',').any(|a| a == "pull" || a == "*")
    })
}

/// Answers 401 (and returns its status) unless the request carries a token
/// valid for `repo` (any issued token for `/v2/` itself).
fn check_token(
    sh: &Shared,
    auth: &TokenAuth,
    client: &mut TcpStream,
    req: &Request,
    repo: Option<&str>,
) -> io::Result<Option<u16>> {
    let presented = req.header("authorization").and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let error = match &presented {
        None => None,
        Some(token) => match sh.state().tokens.get(token) {
            None => Some("invalid_token"),
            Some(scopes) => match repo {
                None => return Ok(None),
                Some(r) if grants_pull(scopes, r) => return Ok(None),
                Some(_) => Some("insufficient_scope"),
            },
        },
    };
    let realm = format!("http://{}{}", sh.front_addr, auth.path);
    let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{}\"", auth.service);
    if let Some(r) = repo {
        let _ = write!(challenge, ",scope=\"repository:{r}:pull\"");
    }
    if let Some(e) = error {
        let _ = write!(challenge, ",error=\"{e}\"");
    }
    let body = format!(
        r#"{{"errors":[{{"code":"UNAUTHORIZED","message":"authentication required","detail":[{{"Type":"repository","Name":"{}","Action":"pull"}}]}}]}}"#,
        repo.unwrap_or("")
    );
    respond(
        client,
        401,
        &[
            ("WWW-Authenticate", challenge),
            ("Content-Type", "application/json; charset=utf-8".into()),
            ("Docker-Distribution-Api-Version", "registry/2.0".into()),
        ],
        body.as_bytes(),
    )
    .map(Some)
}

fn token_endpoint(
    sh: &Shared,
    auth: &TokenAuth,
    client: &mut TcpStream,
    req: &Request,
) -> io::Result<u16> {
    let query = req.query().to_string();
    let mut service = None;
    let mut scopes = Vec::new();
    for (k, v) in parse_query(&query) {
        match k.as_str() {
            "service" => service = Some(v),
            "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(String::from)),
            _ => {}
        }
    }
    let (status, body) = if let Some(refused) = auth.refuse {
        (
            refused,
            r#"{"details":"access to the requested resource is not authorized"}"#.to_string(),
        )
    } else if req.method != "GET" {
        (405, r#"{"details":"use GET"}"#.to_string())
    } else if service.as_deref() != Some(auth.service.as_str()) {
        (
            400,
            format!(
                r#"{{"details":"unknown service {:?}, expected {:?}"}}"#,
                service.as_deref().unwrap_or(""),
                auth.service
            ),
        )
    } else {
        let token = sh.fresh("rdtok");
        sh.state().tokens.insert(token.clone(), scopes.clone());
        let body = match auth.field {
            TokenField::Token => format!(r#"{{"token":"{token}","expires_in":300}}"#),
            TokenField::AccessToken => {
                format!(r#"{{"access_token":"{token}","expires_in":300}}"#)
            }
            TokenField::Both => format!(
                r#"{{"token":"{token}","access_token":"{token}","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}}"#
            ),
        };
        (200, body)
    };
    sh.state().token_requests.push(TokenRequest {
        at: Instant::now(),
        query,
        service,
        scopes,
        authorization: req.header("authorization").map(String::from),
        status,
    });
    respond(
        client,
        status,
        &[("Content-Type", "application/json".into())],
        body.as_bytes(),
    )
}

// ---------------------------------------------------------------- blob host

fn handle_blob_host(sh: &Shared, client: &mut TcpStream, req: Request) -> io::Result<u16> {
    let at = Instant::now();
    let result = route_blob_host(sh, client, &req);
    let status = *result.as_ref().unwrap_or(&0);
    sh.state().blob_requests.push(Seen {
        at,
        method: req.method.clone(),
        target: req.target.clone(),
        headers: req.headers.clone(),
        status,
    });
    result
}

fn route_blob_host(sh: &Shared, client: &mut TcpStream, req: &Request) -> io::Result<u16> {
    if let Some(a) = req.header("authorization") {
        sh.state().violations.push(format!(
            "the blob host {} received Authorization: {a:?} ({} {})",
            sh.blob_authority, req.method, req.target
        ));
        return respond(
            client,
            400,
            &[("Content-Type", "application/xml".into())],
            b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; the registry's Authorization header must not be sent to blob storage</Message></Error>\n",
        );
    }
    let digest = req.path().strip_prefix("/blob/").unwrap_or("");
    let sig = parse_query(req.query())
        .into_iter()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let allowed = sh.state().signatures.get(&sig).cloned();
    let Some((repo, signed_digest)) = allowed.filter(|(_, d)| d == digest) else {
        return respond(
            client,
            403,
            &[("Content-Type", "application/xml".into())],
            b"<Error><Code>AccessDenied</Code><Message>bad signature</Message></Error>\n",
        );
    };
    if req.method != "GET" && req.method != "HEAD" {
        return respond(client, 405, &[], b"");
    }
    let headers: Vec<(String, String)> = req
        .header("range")
        .map(|r| vec![("Range".to_string(), r.to_string())])
        .unwrap_or_default();
    let target = format!("/v2/{repo}/blobs/{signed_digest}");
    proxy(sh, client, &req.method, &target, &headers, &[])
}

// ---------------------------------------------------------------- forwarding

/// Request headers passed upstream.
const FORWARD_REQUEST: &[&str] = &["accept", "content-type", "range", "user-agent"];
/// Response headers passed back.
const FORWARD_RESPONSE: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "docker-content-digest",
    "docker-distribution-api-version",
    "etag",
    "content-range",
    "accept-ranges",
    "location",
    "www-authenticate",
];

/// Sends the request to the upstream registry and streams its answer to
/// `client`; returns the upstream's status.
fn proxy(
    sh: &Shared,
    client: &mut TcpStream,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<u16> {
    let mut up = match TcpStream::connect(&sh.upstream) {
        Ok(s) => s,
        Err(e) => {
            return respond(
                client,
                502,
                &[],
                format!("upstream {}: {e}\n", sh.upstream).as_bytes(),
            )
        }
    };
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        sh.upstream
    );
    for (k, v) in headers {
        if FORWARD_REQUEST.contains(&k.to_ascii_lowercase().as_str()) {
            let _ = write!(head, "{k}: {v}\r\n");
        }
    }
    if !body.is_empty() || method == "PUT" || method == "POST" || method == "PATCH" {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(body)?;
    up.flush()?;

    let mut reader = BufReader::new(up);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad upstream status line {status_line:?}")))?;
    let up_headers = read_headers(&mut reader)?;
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in &up_headers {
        if FORWARD_RESPONSE.contains(&k.to_ascii_lowercase().as_str()) {
            let _ = write!(out, "{k}: {v}\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    client.write_all(out.as_bytes())?;
    // The upstream closes after its answer (we asked for Connection:
    // close): everything until EOF is the body, in whatever framing the
    // forwarded Content-Length / Transfer-Encoding say.
    io::copy(&mut reader, client)?;
    Ok(status)
}

// ---------------------------------------------------------------- HTTP bits

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads one request (head and a Content-Length body); `None` if the
/// client closed without sending one.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other(format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let headers = read_headers(&mut reader)?;
    let len: usize = header(&headers, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::other("connection closed inside the headers"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Writes a whole answer; returns its status.
fn respond(
    client: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<u16> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(out.as_bytes())?;
    client.write_all(body)?;
    Ok(status)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

/// `k=v&k=v` with percent- and `+`-decoding.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------- a tiny client

/// An HTTP answer, read by [`http`].
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// One plain-HTTP request to `http://HOST:PORT/PATH` (no redirects
/// followed, `Connection: close`, body read to EOF), for checking the front
/// itself without rd.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> io::Result<Reply> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other(format!("not an http:// URL: {url}")))?;
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(authority)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers = read_headers(&mut reader)?;
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = dechunk(&body);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or(&[]);
    }
    out
}
