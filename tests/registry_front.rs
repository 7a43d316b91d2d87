//! `rd pull` against what a plain local registry cannot show, and Docker Hub
//! and the big registries do: the anonymous Bearer token flow, blobs
//! redirected (307) to another host that must never see the registry's
//! Authorization header, and 429 rate limiting with Retry-After.
//!
//! Each test starts a real registry (tests/common/registry.rs: Debian's
//! docker-registry on 127.0.0.1, its own config and storage), pushes the
//! test busybox image into it with skopeo, and puts a [`Front`]
//! (tests/common/front.rs) before it.

mod common;

use std::thread;
use std::time::Duration;

use common::front::{http, BlobHost, Front, FrontConfig, TokenField};
use common::oci::{busybox_layer, digest as sha256, Built, Compression, ImageSpec};
use common::registry::Registry;
use common::{Output, Rd};

/// The repository and tag pushed to every upstream.
const REPO: &str = "front/busybox";
const TAG: &str = "1";
const SCOPE: &str = "repository:front/busybox:pull";

/// The platform rd pulls for.
const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "amd64"
};

/// The four manifest types a client asks for.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A registry with front/busybox:1 in it, and a front before it.
struct Setup {
    front: Front,
    pushed: Built,
    // Dropped after the front.
    upstream: Registry,
}

/// Starts a registry and pushes the busybox test image as front/busybox:1.
fn upstream_with_busybox() -> (Registry, Built) {
    let upstream = Registry::start();
    let image =
        ImageSpec::new(vec![busybox_layer(Compression::Gzip)]).platform("linux", ARCH, None);
    let pushed = upstream.push_image(&format!("{REPO}:{TAG}"), &image);
    (upstream, pushed)
}

/// The registry's URL, for [`Front::start`].
fn url_of(r: &Registry) -> String {
    format!("http://{}", r.host())
}

impl Setup {
    fn new(cfg: FrontConfig) -> Setup {
        let (upstream, pushed) = upstream_with_busybox();
        let front = Front::start(&url_of(&upstream), cfg);
        Setup {
            front,
            pushed,
            upstream,
        }
    }

    fn layer(&self) -> &str {
        &self.pushed.layer_digests[0]
    }

    /// `127.0.0.1:FRONTPORT/front/busybox:1`.
    fn image(&self) -> String {
        self.front.image(&format!("{REPO}:{TAG}"))
    }

    /// `rd pull IMAGE`, panicking with the front's log unless it exits 0.
    #[track_caller]
    fn pull_ok(&self, rd: &Rd) -> Output {
        let out = rd.rd(&["pull", &self.image()]);
        assert!(
            out.code == 0 && !out.stderr.contains("panicked"),
            "expected `rd pull` to succeed\n{out}\n{}",
            self.front.report()
        );
        out
    }
}

/// `rd images` lists the pulled image.
#[track_caller]
fn assert_listed(rd: &Rd, s: &Setup) {
    let images = rd.rd(&["images"]);
    images.assert_ok();
    let name = s.front.image(REPO);
    assert!(
        images
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()) || l.contains(&s.image())),
        "expected `rd images` to list {name}\n{images}"
    );
}

// ---------------------------------------------------------------- the front itself

/// The front behaves as documented, checked without rd: challenge,
/// anonymous token, scoped tokens, redirect, Authorization flagged on the
/// blob host, 429 with Retry-After.
#[test]
fn front_serves_challenge_token_redirect_and_429() {
    let s = Setup::new(
        FrontConfig::new()
            .token_auth("rd,test", TokenField::AccessToken)
            .redirect_blobs(BlobHost::Loopback2)
            .throttle("/v2/front/busybox/tags/", 1),
    );
    let base = s.front.url();
    let manifest_url = format!("{base}/v2/{REPO}/manifests/{TAG}");

    // No token: 401 and a challenge naming the realm, service and scope.
    let r = http("GET", &manifest_url, &[("Accept", ACCEPT)]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"{}\",service=\"rd,test\",scope=\"{SCOPE}\"",
                s.front.realm()
            )
            .as_str()
        )
    );

    // A token for another repository does not open this one.
    let other = http(
        "GET",
        &format!(
            "{}?service=rd%2Ctest&scope=repository%3Aother%2Fx%3Apull",
            s.front.realm()
        ),
        &[],
    )
    .unwrap();
    assert_eq!(other.status, 200);
    let other: serde_json::Value = serde_json::from_slice(&other.body).unwrap();
    let other = other["access_token"].as_str().unwrap().to_string();
    let r = http(
        "GET",
        &manifest_url,
        &[
            ("Accept", ACCEPT),
            ("Authorization", &format!("Bearer {other}")),
        ],
    )
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .ends_with(",error=\"insufficient_scope\""));

    // A wrong service is refused.
    let r = http(
        "GET",
        &format!("{}?service=rd-test&scope={SCOPE}", s.front.realm()),
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 400);

    // The right token opens the manifest.
    let t = http(
        "GET",
        &format!(
            "{}?service=rd%2Ctest&scope=repository%3Afront%2Fbusybox%3Apull",
            s.front.realm()
        ),
        &[],
    )
    .unwrap();
    assert_eq!(t.status, 200);
    let t: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    assert!(t.get("token").is_none(), "access_token only: {t}");
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let r = http(
        "GET",
        &manifest_url,
        &[("Accept", ACCEPT), ("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", s.front.report());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert_eq!(
        r.header("docker-content-digest"),
        Some(sha256(&r.body).as_str())
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let tokens = s.front.token_requests();
    let last = tokens.last().unwrap();
    assert_eq!(last.service.as_deref(), Some("rd,test"));
    assert_eq!(last.scopes, [SCOPE]);

    // HEAD is forwarded too: no body, the length and digest of the GET.
    let h = http(
        "HEAD",
        &manifest_url,
        &[("Accept", ACCEPT), ("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(h.header("content-length"), r.header("content-length"));

    // A blob: 307 to the other host, which serves it without Authorization...
    let blob_url = format!("{base}/v2/{REPO}/blobs/{}", s.layer());
    let r = http("GET", &blob_url, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 307);
    let location = r.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&format!(
            "http://{}/blob/{}?sig=",
            s.front.blob_authority(),
            s.layer()
        )),
        "{location}"
    );
    assert!(location.starts_with("http://127.0.0.2:"));
    let b = http("GET", &location, &[]).unwrap();
    assert_eq!(b.status, 200);
    assert_eq!(sha256(&b.body), s.layer());
    assert!(s.front.violations().is_empty());
    // ... and refuses (400), and records, an Authorization header.
    let b = http("GET", &location, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(b.status, 400);
    assert_eq!(s.front.violations().len(), 1, "{}", s.front.report());
    // A forged signature is refused.
    let forged = location.replace("sig=", "sig=x");
    assert_eq!(http("GET", &forged, &[]).unwrap().status, 403);
    // Without a token, a blob gets the challenge, not the redirect.
    assert_eq!(http("GET", &blob_url, &[]).unwrap().status, 401);

    // 429 once with Retry-After, then the tags list.
    let tags = format!("{base}/v2/{REPO}/tags/list");
    let r = http("GET", &tags, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = http("GET", &tags, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(r.status, 200);
    let list: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list["tags"], serde_json::json!([TAG]));
    let statuses: Vec<u16> = s.front.throttled().iter().map(|x| x.status).collect();
    assert_eq!(statuses, [429, 200]);
}

// ---------------------------------------------------------------- rd pull

/// Checks the token flow as the front saw it: anonymous token requests for
/// `service` and the repository's pull scope, and every registry request
/// that got an answer other than 401 carried a Bearer token.
#[track_caller]
fn assert_token_flow(s: &Setup, service: &str) {
    let report = s.front.report();
    let tokens = s.front.token_requests();
    assert!(
        !tokens.is_empty(),
        "rd never asked the token endpoint\n{report}"
    );
    assert!(
        tokens.iter().any(|t| t.status == 200
            && t.service.as_deref() == Some(service)
            && t.scopes.iter().any(|x| x == SCOPE)),
        "expected a token request with service={service:?} and scope={SCOPE:?}\n{report}"
    );
    assert!(
        tokens.iter().all(|t| t.authorization.is_none()),
        "an anonymous pull sends no credentials to the token endpoint\n{report}"
    );
    for r in s.front.requests() {
        if r.path().starts_with(&format!("/v2/{REPO}/")) && r.status != 401 {
            assert!(
                r.header("authorization")
                    .is_some_and(|a| a.starts_with("Bearer ")),
                "{} {} was answered {} without a Bearer token\n{report}",
                r.method,
                r.target,
                r.status
            );
        }
    }
}

#[test]
fn pull_with_anonymous_bearer_token() {
    let s = Setup::new(FrontConfig::new().token_auth("rd-test", TokenField::Token));
    let rd = Rd::new();
    s.pull_ok(&rd);
    assert_token_flow(&s, "rd-test");
    assert_listed(&rd, &s);
    rd.finish();
}

/// `access_token` instead of `token`, and a realm and service holding
/// commas inside their quotes.
#[test]
fn pull_with_access_token_and_commas_in_the_challenge() {
    let s = Setup::new(
        FrontConfig::new()
            .token_auth("rd,test", TokenField::AccessToken)
            .token_path("/auth,v2/token"),
    );
    assert!(s.front.realm().contains(','));
    let rd = Rd::new();
    s.pull_ok(&rd);
    assert_token_flow(&s, "rd,test");
    rd.finish();
}

/// Blobs come from another host (as from blob storage or a CDN), which
/// never sees the registry's token; the pulled image runs.
fn pull_redirected(host: BlobHost) {
    let s = Setup::new(
        FrontConfig::new()
            .token_auth("rd-test", TokenField::Both)
            .redirect_blobs(host),
    );
    let rd = Rd::new();
    s.pull_ok(&rd);
    let report = s.front.report();
    let violations = s.front.violations();
    assert!(
        violations.is_empty(),
        "the blob host received the registry's Authorization header: {violations:#?}\n{report}"
    );
    let served: Vec<String> = s
        .front
        .blob_requests()
        .iter()
        .filter(|r| r.method == "GET" && r.status == 200)
        .map(|r| r.path().trim_start_matches("/blob/").to_string())
        .collect();
    for digest in [s.layer(), s.pushed.config_digest.as_str()] {
        assert!(
            served.iter().any(|d| d == digest),
            "expected {digest} to be fetched from the blob host {}\n{report}",
            s.front.blob_authority()
        );
    }
    let run = rd.run(&["-i", &s.image(), "--", "/bin/busybox", "echo", "ok"]);
    run.assert_ok();
    assert_eq!(run.stdout_lines(), ["ok"], "{run}");
    rd.finish();
}

#[test]
fn pull_follows_blob_redirect_without_sending_authorization() {
    pull_redirected(BlobHost::Loopback2);
}

#[test]
fn pull_follows_blob_redirect_to_localhost_without_sending_authorization() {
    pull_redirected(BlobHost::Localhost);
}

/// Two 429s on the manifest: rd waits as Retry-After says, then pulls.
#[test]
fn pull_honours_retry_after_on_429() {
    let s = Setup::new(FrontConfig::new().throttle(&format!("/v2/{REPO}/manifests/"), 2));
    let rd = Rd::new();
    s.pull_ok(&rd);
    let report = s.front.report();
    let seen = s.front.throttled();
    let statuses: Vec<u16> = seen.iter().map(|r| r.status).collect();
    assert!(
        statuses.len() >= 3 && statuses[..2] == [429, 429] && statuses[2] == 200,
        "expected 429, 429, then 200 on the manifest, got {statuses:?}\n{report}"
    );
    for w in seen[..3].windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "a retry came {gap:?} after a 429 with Retry-After: 1\n{report}"
        );
    }
    rd.finish();
}

/// A token endpoint that refuses: one line about authentication (it says
/// auth..., login or credentials), exit 125, nothing stored.
#[test]
fn pull_fails_cleanly_when_the_token_is_refused() {
    let (upstream, _) = upstream_with_busybox();
    for status in [401, 403] {
        let front = Front::start(
            &url_of(&upstream),
            FrontConfig::new()
                .token_auth("rd-test", TokenField::Token)
                .refuse_tokens(status),
        );
        let rd = Rd::new();
        let image = front.image(&format!("{REPO}:{TAG}"));
        let out = rd.rd(&["pull", &image]);
        out.assert_rd_error();
        let line = out.stderr.to_lowercase();
        assert!(
            ["auth", "login", "credential"]
                .iter()
                .any(|w| line.contains(w)),
            "expected the error to mention authentication (token endpoint answered {status})\n{out}\n{}",
            front.report()
        );
        assert!(
            !front.token_requests().is_empty(),
            "rd never asked the token endpoint\n{}",
            front.report()
        );
        let images = rd.rd(&["images"]);
        assert!(
            !images.stdout.contains(REPO),
            "a refused pull stored the image\n{images}"
        );
        rd.finish();
    }
}

/// For poking at the front by hand (curl): starts a registry with
/// front/busybox:1, a front with token auth (service "rd,test"), blob
/// redirects to 127.0.0.2 and two 429s on the tags list, prints the URLs
/// and serves for RD_FRONT_SECONDS (default 300) seconds, then prints what
/// it saw.
///
/// `cargo test --release --test registry_front manual_front -- --ignored --nocapture`
#[test]
#[ignore]
fn manual_front() {
    let s = Setup::new(
        FrontConfig::new()
            .token_auth("rd,test", TokenField::Token)
            .redirect_blobs(BlobHost::Loopback2)
            .throttle(&format!("/v2/{REPO}/tags/"), 2),
    );
    let secs: u64 = std::env::var("RD_FRONT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("front:    {}", s.front.url());
    println!("upstream: {}", url_of(&s.upstream));
    println!("image:    {}", s.image());
    println!("layer:    {}", s.layer());
    println!("config:   {}", s.pushed.config_digest);
    println!("serving for {secs} s");
    thread::sleep(Duration::from_secs(secs));
    println!("{}", s.front.report());
}
