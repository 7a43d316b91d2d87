//! The HTTP side of a pull: authentication, redirects, rate limits, retries,
//! and turning a status code into a sentence.
//!
//! Authentication (distribution spec "token authentication", docker's
//! docs/spec/auth/token.md): a registry answers 401 with a challenge.
//! - `Bearer realm=R,service=S,scope=...`: GET `R?service=S&scope=...` (with
//!   our basic credentials if we have some, anonymously otherwise), take the
//!   token from the JSON answer (`token`, or OAuth2's `access_token`), and
//!   repeat the request with `Authorization: Bearer <token>`. Tokens are
//!   per scope (`repository:library/ubuntu:pull`), so we cache them per scope.
//! - `Basic realm=...`: repeat with `Authorization: Basic` (user:password).
//!
//! A second 401 right after fresh credentials is final: retrying would only
//! hammer the registry (and lock accounts).

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Response;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::auth::{parse_www_authenticate, Challenge};
use super::error::{one_line, transport_error};
use super::manifest::MANIFEST_ACCEPT;
use super::{Client, RegistryError, MANIFEST_LIMIT};
use crate::image::ImageRef;

/// At most this many redirects per request (a CDN typically needs one).
const MAX_REDIRECTS: u32 = 5;
/// 429 and 502/503/504 are retried this many times.
const MAX_RETRIES: u32 = 3;
/// Longer than this, and we would rather tell the user than sit silent.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct AuthState {
    /// The registry asked for Basic: send it with every request from now on.
    basic: bool,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// An Authorization header to send, and to whom.
pub(super) enum Auth {
    Basic { username: String, password: String },
    Bearer(String),
}

/// A manifest as the registry sent it.
pub(super) struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub header_digest: Option<String>,
}

/// From HTTPS to plain HTTP: refused for redirects and token realms alike.
fn downgrade(from: &Url, to: &Url) -> bool {
    from.scheme() == "https" && to.scheme() != "https"
}

/// Same scheme, host and port: the only place credentials may go. A
/// redirect to blob storage (S3, a CDN) carries its own signed URL; our
/// token there would be leaked to a third party, and some stores even
/// refuse requests that carry two kinds of credentials.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `host[:port]` of a URL, for messages.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    }
}

impl Client {
    fn repository_url(&self, image: &ImageRef, kind: &str, reference: &str) -> Url {
        // Every part was validated: the repository by ImageRef's grammar,
        // a digest by valid_digest, a tag by ImageRef (letters, digits, ._-).
        let path = format!("v2/{}/{kind}/{reference}", image.repository());
        self.base
            .join(&path)
            .expect("validated parts make a valid URL")
    }

    pub(super) fn fetch_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let url = self.repository_url(image, "manifests", reference);
        let what = format!("the manifest of {}", image.name);
        let response = self.get(image, url, Some(MANIFEST_ACCEPT), &what)?;
        if !response.status().is_success() {
            return Err(self.status_error(image, response, &what, true));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let header_digest = header("docker-content-digest");
        let body = read_limited(response, MANIFEST_LIMIT, &what)?;
        Ok(Fetched {
            body,
            content_type,
            header_digest,
        })
    }

    /// A blob small enough to hold (the config), read whole.
    pub(super) fn fetch_small_blob(
        &self,
        image: &ImageRef,
        digest: &str,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let response = self.get_blob(image, digest)?;
        read_limited(response, size, &format!("blob {digest}"))
    }

    /// GET a blob; the response is 200 and its body is the blob.
    pub(super) fn get_blob(
        &self,
        image: &ImageRef,
        digest: &str,
    ) -> Result<Response, RegistryError> {
        let url = self.repository_url(image, "blobs", digest);
        let what = format!("blob {digest} of {}", image.name);
        let response = self.get(image, url, None, &what)?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(image, response, &what, false));
        }
        Ok(response)
    }

    fn current_auth(&self, scope: &str) -> Option<Auth> {
        let state = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = state.tokens.get(scope) {
            return Some(Auth::Bearer(token.clone()));
        }
        match (&self.credentials, state.basic) {
            (Some(c), true) => Some(Auth::Basic {
                username: c.username.clone(),
                password: c.password.clone(),
            }),
            _ => None,
        }
    }

    /// GET from the registry, logging in when it asks. Returns the final
    /// response whatever its status, except a 401 we could not get past.
    fn get(
        &self,
        image: &ImageRef,
        url: Url,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let scope = format!("repository:{}:pull", image.repository());
        let mut fresh = false;
        loop {
            let auth = self.current_auth(&scope);
            let response = self.send(url.clone(), accept, auth.as_ref(), &self.base, what)?;
            let from_registry = same_origin(response.url(), &self.base);
            if response.status() != StatusCode::UNAUTHORIZED || !from_registry {
                return Ok(response);
            }
            let challenges = challenges(response.headers());
            if fresh {
                let words = registry_words(response);
                return Err(self.refused(image, auth.as_ref(), words));
            }
            let challenges = challenges.map_err(|e| {
                RegistryError::Protocol(format!(
                    "{} asked for a login with a WWW-Authenticate header rd cannot read: {e}",
                    self.host
                ))
            })?;
            self.authenticate(&challenges, &scope)?;
            fresh = true;
        }
    }

    /// What a final 401 means depends on what we sent.
    fn refused(&self, image: &ImageRef, sent: Option<&Auth>, words: String) -> RegistryError {
        match (&self.credentials, sent) {
            (Some(_), _) => RegistryError::AuthRefused {
                host: self.host.clone(),
                words,
            },
            (None, Some(Auth::Bearer(_))) => RegistryError::AccessDenied {
                repository: image.repository(),
                registry: image.registry().to_string(),
                words,
            },
            (None, _) => RegistryError::LoginRequired {
                registry: image.registry().to_string(),
            },
        }
    }

    /// Answer a 401's challenges: get a token, or switch to Basic.
    fn authenticate(&self, challenges: &[Challenge], scope: &str) -> Result<(), RegistryError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer.param("realm").ok_or_else(|| {
                RegistryError::Protocol(format!(
                    "{} sent a Bearer challenge without a realm (where to get a token)",
                    self.host
                ))
            })?;
            // The challenge's scope is what the registry wants the token to
            // cover; it may list several, space-separated (one `scope`
            // parameter each in the token request).
            let scopes: Vec<&str> = match bearer.param("scope") {
                Some(s) if !s.trim().is_empty() => s.split_whitespace().collect(),
                _ => vec![scope],
            };
            let token = self.fetch_token(realm, bearer.param("service"), &scopes)?;
            let mut state = self.auth.lock().unwrap_or_else(|e| e.into_inner());
            state.tokens.insert(scope.to_string(), token);
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            if self.credentials.is_none() {
                return Err(RegistryError::LoginRequired {
                    registry: self.host.clone(),
                });
            }
            let mut state = self.auth.lock().unwrap_or_else(|e| e.into_inner());
            state.basic = true;
            return Ok(());
        }
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(RegistryError::Protocol(format!(
            "{} asks for a login rd cannot do ({}): rd speaks Bearer and Basic",
            self.host,
            if schemes.is_empty() {
                "no WWW-Authenticate challenge at all".to_string()
            } else {
                schemes.join(", ")
            }
        )))
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[&str],
    ) -> Result<String, RegistryError> {
        let mut url = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                RegistryError::Protocol(format!(
                    "{} sent a token realm that is not an http(s) URL: {realm:?}",
                    self.host
                ))
            })?;
        // A registry reached over HTTPS must not send us (and the password
        // we may attach) to plain HTTP for a token: anyone on the path
        // would read the token, or the credentials.
        if downgrade(&self.base, &url) {
            return Err(RegistryError::Protocol(format!(
                "{} (HTTPS) sent a token realm over plain HTTP ({realm:?}): refused, a token or password must not travel in the clear",
                self.host
            )));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(s) = service {
                query.append_pair("service", s);
            }
            for s in scopes {
                query.append_pair("scope", s);
            }
            if let Some(c) = &self.credentials {
                // docker sends this too; some token servers use it as a hint.
                query.append_pair("account", &c.username);
            }
        }
        // The realm's own origin is where our basic credentials may go (it
        // is usually another host than the registry: auth.docker.io).
        let auth = self.credentials.as_ref().map(|c| Auth::Basic {
            username: c.username.clone(),
            password: c.password.clone(),
        });
        let realm_host = host_of(&url);
        let what = format!("a token from {realm_host}");
        let response = self.send(url.clone(), None, auth.as_ref(), &url, &what)?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let words = registry_words(response);
            return Err(match &self.credentials {
                Some(_) => RegistryError::AuthRefused {
                    host: realm_host,
                    words,
                },
                None => RegistryError::LoginRequired {
                    registry: self.host.clone(),
                },
            });
        }
        if !status.is_success() {
            return Err(plain_status_error(&realm_host, response, &what));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let body = read_limited(response, 1 << 20, &what)?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Protocol(format!(
                "{realm_host} answered the token request with something that is not a token: {e}"
            ))
        })?;
        answer
            .token
            .filter(|t| !t.is_empty())
            .or(answer.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| {
                RegistryError::Protocol(format!(
                    "{realm_host} answered the token request without a token"
                ))
            })
    }

    /// One GET, with its redirects, rate limits and retries. Authorization
    /// goes only to `auth_origin`, re-checked at every hop.
    fn send(
        &self,
        mut url: Url,
        accept: Option<&str>,
        auth: Option<&Auth>,
        auth_origin: &Url,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let mut hops = 0;
        let mut retries = 0;
        loop {
            let mut request = self.http.get(url.clone());
            if let Some(a) = accept {
                request = request.header(ACCEPT, a);
            }
            if same_origin(&url, auth_origin) {
                request = match auth {
                    Some(Auth::Basic { username, password }) => {
                        request.basic_auth(username, Some(password))
                    }
                    Some(Auth::Bearer(token)) => request.bearer_auth(token),
                    None => request,
                };
            }
            let response = request
                .send()
                .map_err(|e| transport_error(&host_of(&url), &e))?;
            let status = response.status();
            match status.as_u16() {
                301 | 302 | 303 | 307 | 308 => {
                    hops += 1;
                    if hops > MAX_REDIRECTS {
                        return Err(RegistryError::Protocol(format!(
                            "{} redirected more than {MAX_REDIRECTS} times fetching {what}",
                            host_of(&url)
                        )));
                    }
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| {
                            RegistryError::Protocol(format!(
                                "{} answered {status} without a Location for {what}",
                                host_of(&url)
                            ))
                        })?;
                    // Location may be relative (RFC 9110 10.2.2): resolve it
                    // against the URL that sent it.
                    let next = url
                        .join(location)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| {
                            RegistryError::Protocol(format!(
                                "{} redirected {what} to {location:?}, which is not an http(s) URL",
                                host_of(&url)
                            ))
                        })?;
                    // HTTPS to HTTP would hand the rest of the exchange
                    // (and what it downloads) to anyone on the path.
                    if downgrade(&url, &next) {
                        return Err(RegistryError::Protocol(format!(
                            "{} redirected {what} from HTTPS to plain HTTP ({location:?}): refused",
                            host_of(&url)
                        )));
                    }
                    url = next;
                }
                429 | 502 | 503 | 504 => {
                    let wait = retry_after(response.headers(), SystemTime::now())
                        .unwrap_or(Duration::from_secs(1 << retries));
                    if retries >= MAX_RETRIES || wait > MAX_WAIT {
                        let host = host_of(&url);
                        if status != StatusCode::TOO_MANY_REQUESTS {
                            return Err(plain_status_error(&host, response, what));
                        }
                        let words = registry_words(response);
                        return Err(RegistryError::RateLimited {
                            detail: format!(
                                "the registry says \"{words}\" (429) and asks to wait {} s more; try later{}",
                                wait.as_secs(),
                                if self.credentials.is_none() {
                                    ", or log in (--username, --password): registries give logged-in users a higher limit"
                                } else {
                                    ""
                                }
                            ),
                            host,
                        });
                    }
                    drop(response);
                    std::thread::sleep(wait);
                    retries += 1;
                }
                _ => return Ok(response),
            }
        }
    }

    /// An unexpected status from the registry, as a sentence.
    pub(super) fn status_error(
        &self,
        image: &ImageRef,
        response: Response,
        what: &str,
        is_manifest: bool,
    ) -> RegistryError {
        let status = response.status();
        let host = host_of(response.url());
        if status == StatusCode::NOT_FOUND && is_manifest {
            return RegistryError::NotFound {
                image: image.to_string(),
                registry: image.registry().to_string(),
                words: registry_words(response),
            };
        }
        if status == StatusCode::FORBIDDEN {
            let words = registry_words(response);
            return match &self.credentials {
                Some(_) => RegistryError::AuthRefused { host, words },
                None => RegistryError::AccessDenied {
                    repository: image.repository(),
                    registry: image.registry().to_string(),
                    words,
                },
            };
        }
        plain_status_error(&host, response, what)
    }
}

fn plain_status_error(host: &str, response: Response, what: &str) -> RegistryError {
    let status = response.status().as_u16();
    let words = registry_words(response);
    if status >= 500 {
        RegistryError::Server {
            host: host.to_string(),
            status,
            what: what.to_string(),
            words,
        }
    } else {
        RegistryError::Status {
            host: host.to_string(),
            status,
            what: what.to_string(),
            words,
        }
    }
}

/// All challenges of all `WWW-Authenticate` headers of a response.
fn challenges(headers: &HeaderMap) -> Result<Vec<Challenge>, String> {
    let mut all = Vec::new();
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let text = value
            .to_str()
            .map_err(|_| "the header is not ASCII".to_string())?;
        all.extend(parse_www_authenticate(text)?);
    }
    Ok(all)
}

/// Read a body of at most `limit` bytes (one more tells us it was longer).
fn read_limited(response: Response, limit: u64, what: &str) -> Result<Vec<u8>, RegistryError> {
    let host = host_of(response.url());
    let mut body = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            RegistryError::Protocol(format!(
                "reading {what} from {host} broke: {}",
                one_line(&e)
            ))
        })?;
    if body.len() as u64 > limit {
        return Err(RegistryError::Protocol(format!(
            "{what} from {host} is larger than {limit} bytes; rd refuses it"
        )));
    }
    Ok(body)
}

/// The registry's own words for a failure. The distribution spec's error
/// body is `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest
/// unknown","detail":...}]}`; token servers say `{"details":"..."}`; a proxy
/// in between may send HTML. We keep the words and drop the markup.
pub(super) fn registry_words(response: Response) -> String {
    let status = response.status();
    let mut body = Vec::new();
    let _ = response.take(64 << 10).read_to_end(&mut body);
    words_from_body(status, &body)
}

fn words_from_body(status: StatusCode, body: &[u8]) -> String {
    let fallback = || {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim()
        .to_string()
    };
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(errors) = json.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    match (message.is_empty(), code.is_empty()) {
                        (false, false) => format!("{message} ({code})"),
                        (false, true) => message.to_string(),
                        (true, _) => code.to_string(),
                    }
                })
                .filter(|p| !p.is_empty())
                .collect();
            if !parts.is_empty() {
                return one_line_text(&parts.join("; "));
            }
        }
        for key in ["details", "detail", "message", "error"] {
            if let Some(text) = json.get(key).and_then(|v| v.as_str()) {
                return one_line_text(text);
            }
        }
        return fallback();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        return fallback();
    }
    one_line_text(text)
}

/// Whitespace collapsed, at most 300 characters: error text must stay one line.
fn one_line_text(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &joined[..i]),
        None => joined,
    }
}

/// `Retry-After` (RFC 9110 10.2.3): delay-seconds, or an HTTP-date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    // A hostile value is only ever a long wait (which the caller caps),
    // never an overflow: seconds saturate, dates are range-checked.
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = parse_http_date(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The IMF-fixdate form of an HTTP-date, `Sun, 06 Nov 1994 08:49:37 GMT`,
/// the only one a sender may generate (RFC 9110 5.6.7).
fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(0..24).contains(h) || !(0..60).contains(m) || !(0..61).contains(s) {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + m * 60 + s;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn https_never_leads_to_http() {
        let https = Url::parse("https://registry.example/v2/").unwrap();
        let http = Url::parse("http://auth.example/token").unwrap();
        assert!(downgrade(&https, &http));
        assert!(!downgrade(&https, &https));
        assert!(!downgrade(&http, &https));
        assert!(!downgrade(&http, &http)); // a plain-HTTP registry was chosen as such
    }

    #[test]
    fn hostile_retry_after_cannot_overflow() {
        let mut h = HeaderMap::new();
        for v in [
            "99999999999999999999999999",
            "Sun, 06 Nov 99999999999999 08:49:37 GMT",
            "Sun, 99999999999 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 99999999999:49:37 GMT",
            "Sun, 06 Nov 1994 -1:49:37 GMT",
        ] {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            let _ = retry_after(&h, SystemTime::now()); // no panic
        }
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("99999999999999999999999"),
        );
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, SystemTime::now()), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(7))
        );
        let date = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            date.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            784111777
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"),
        );
        assert_eq!(retry_after(&h, date), Some(Duration::from_secs(30)));
        assert_eq!(
            retry_after(&h, date + Duration::from_secs(60)),
            Some(Duration::ZERO)
        );
        let leap = parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").unwrap();
        assert_eq!(
            leap.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1709164800
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, date), None);
    }

    #[test]
    fn registry_words_from_bodies() {
        let nf = StatusCode::NOT_FOUND;
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        assert_eq!(
            words_from_body(nf, body),
            "manifest unknown (MANIFEST_UNKNOWN)"
        );
        let hub = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"library/nosuch","Action":"pull"}]}]}"#;
        assert_eq!(
            words_from_body(StatusCode::UNAUTHORIZED, hub),
            "authentication required (UNAUTHORIZED)"
        );
        assert_eq!(
            words_from_body(
                StatusCode::UNAUTHORIZED,
                br#"{"details":"incorrect username or password"}"#
            ),
            "incorrect username or password"
        );
        assert_eq!(
            words_from_body(nf, b"<html><body>Not Found</body></html>"),
            "404 Not Found"
        );
        assert_eq!(
            words_from_body(StatusCode::BAD_GATEWAY, b""),
            "502 Bad Gateway"
        );
        assert_eq!(words_from_body(nf, b"no\nsuch\n  thing\n"), "no such thing");
        assert!(words_from_body(nf, "x".repeat(5000).as_bytes()).len() < 310);
    }

    #[test]
    fn origins() {
        let reg = Url::parse("https://registry-1.docker.io/").unwrap();
        let same = Url::parse("https://registry-1.docker.io:443/v2/x/blobs/sha256:1").unwrap();
        let cdn = Url::parse("https://production.cloudflare.docker.com/registry-v2/x").unwrap();
        let http = Url::parse("http://registry-1.docker.io/v2/").unwrap();
        assert!(same_origin(&reg, &same));
        assert!(!same_origin(&reg, &cdn));
        assert!(!same_origin(&reg, &http), "no credentials over a downgrade");
        assert_eq!(
            host_of(&Url::parse("http://127.0.0.1:5000/v2/").unwrap()),
            "127.0.0.1:5000"
        );
    }
}
