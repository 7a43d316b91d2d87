//! A real OCI registry for the pull tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1, with its own config and storage in a
//! temporary directory under /var/tmp, stopped and removed on drop. Images
//! are pushed to it with skopeo from OCI layouts written by [`super::oci`].
//!
//! Also a throttling TCP proxy ([`SlowProxy`]) to make a pull last long
//! enough to interrupt it, or to make two pulls overlap.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::oci::{self, Built, BuiltIndex, ImageSpec, IndexSpec};
use super::{host, run_with_timeout, Output};

/// How long a skopeo push or inspect may take.
const SKOPEO_TIMEOUT: Duration = Duration::from_secs(180);

/// A running `docker-registry serve`, listening on 127.0.0.1 only.
pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    creds: Option<(String, String)>,
}

impl Registry {
    /// A registry without authentication.
    #[track_caller]
    pub fn start() -> Registry {
        Registry::launch(None)
    }

    /// A registry that asks for HTTP basic credentials (htpasswd, bcrypt)
    /// on every request; `user`/`pass` is the only account.
    #[track_caller]
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Registry {
        Registry::launch(Some((user.to_string(), pass.to_string())))
    }

    #[track_caller]
    fn launch(creds: Option<(String, String)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("rd-registry-")
            .tempdir_in("/var/tmp")
            .expect("creating the registry's directory under /var/tmp");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("creating the registry's storage dir");
        let auth = match &creds {
            None => String::new(),
            Some((user, pass)) => {
                let hash = bcrypt::hash(pass, 5).expect("bcrypt hash");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("writing htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: rd-test-registry\n    path: {}\n",
                    htpasswd.display()
                )
            }
        };
        let expected = if creds.is_some() { 401 } else { 200 };
        let mut last_log = String::new();
        for _attempt in 0..8 {
            let port = free_port();
            match try_serve(dir.path(), &storage, port, &auth, expected) {
                Ok(child) => {
                    return Registry {
                        child: Some(child),
                        dir,
                        port,
                        creds,
                    }
                }
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("{log}"),
            }
        }
        panic!("could not find a free port for the registry\n{last_log}");
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "127.0.0.1:PORT/NAME_TAG", e.g. `reference("busybox:1")`.
    pub fn reference(&self, name_tag: &str) -> String {
        format!("{}/{name_tag}", self.host())
    }

    /// The credentials of an htpasswd registry.
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's storage root (filesystem driver's rootdirectory).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the bytes of blob `sha256:HEX`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Rewrites a stored blob in place (same length) with `change`, so the
    /// registry serves bytes that no longer match their digest.
    #[track_caller]
    pub fn corrupt_blob(&self, digest: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let path = self.blob_path(digest);
        let mut bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("reading blob {digest} at {}: {e}", path.display()));
        let len = bytes.len();
        let before = bytes.clone();
        change(&mut bytes);
        assert_eq!(bytes.len(), len, "corrupt_blob must keep the blob's length");
        assert_ne!(bytes, before, "corrupt_blob changed nothing");
        std::fs::write(&path, &bytes).expect("rewriting the blob");
    }

    /// The registry's log so far (for failure messages).
    pub fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("--- registry log (last lines) ---\n{}", tail.join("\n"))
    }

    /// `GET PATH` on the registry (no credentials): status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.host(), path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The registry's own error message for `GET PATH` (errors[0].message).
    #[track_caller]
    pub fn error_message(&self, path: &str) -> String {
        let (status, body) = self.get(path);
        let json: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path} -> {status}: not JSON ({e}): {body}"));
        json["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("GET {path} -> {status}: no errors[0].message: {body}"))
            .to_string()
    }

    fn skopeo_creds(&self, flag: &str) -> Vec<String> {
        match self.creds() {
            Some((u, p)) => vec![flag.to_string(), format!("{u}:{p}")],
            None => Vec::new(),
        }
    }

    /// `skopeo copy [--all] --preserve-digests oci:LAYOUT:TAG
    /// docker://HOST/NAME_TAG`: pushes an OCI layout's image (or, with
    /// `all`, every image of its index) unchanged.
    #[track_caller]
    pub fn push_layout(&self, layout: &Path, layout_tag: &str, name_tag: &str, all: bool) {
        let mut args: Vec<String> = vec!["copy".into(), "--dest-tls-verify=false".into()];
        if all {
            args.push("--all".into());
        }
        args.push("--preserve-digests".into());
        args.extend(self.skopeo_creds("--dest-creds"));
        args.push(format!("oci:{}:{layout_tag}", layout.display()));
        args.push(format!("docker://{}", self.reference(name_tag)));
        let out = skopeo(&args);
        assert!(
            out.code == 0,
            "skopeo could not push {name_tag}\n{out}\n{}",
            self.log()
        );
    }

    /// Writes `image` as an OCI layout in a temporary directory, pushes it
    /// as NAME:TAG and returns its digests.
    #[track_caller]
    pub fn push_image(&self, name_tag: &str, image: &ImageSpec) -> Built {
        let layout = layout_dir();
        let built = image.write_layout(layout.path(), "push");
        self.push_layout(layout.path(), "push", name_tag, false);
        built
    }

    /// Writes a multi-platform index as an OCI layout and pushes all of it.
    #[track_caller]
    pub fn push_index(&self, name_tag: &str, index: &IndexSpec) -> BuiltIndex {
        let layout = layout_dir();
        let built = index.write_layout(layout.path(), "push");
        self.push_layout(layout.path(), "push", name_tag, true);
        built
    }

    /// `skopeo inspect --raw` of NAME_TAG (or NAME@DIGEST): the manifest (or
    /// index) exactly as the registry serves it.
    #[track_caller]
    pub fn inspect_raw(&self, name_ref: &str) -> Vec<u8> {
        let mut args: Vec<String> = vec![
            "inspect".into(),
            "--tls-verify=false".into(),
            "--raw".into(),
        ];
        args.extend(self.skopeo_creds("--creds"));
        args.push(format!("docker://{}", self.reference(name_ref)));
        let out = skopeo(&args);
        assert!(
            out.code == 0,
            "skopeo inspect --raw failed\n{out}\n{}",
            self.log()
        );
        out.stdout.into_bytes()
    }

    /// `skopeo inspect` of NAME_TAG (digest, layers, Env, ... as JSON), with
    /// `--override-arch` when `arch` is given.
    #[track_caller]
    pub fn inspect(&self, name_ref: &str, arch: Option<&str>) -> serde_json::Value {
        let mut args: Vec<String> = vec!["inspect".into(), "--tls-verify=false".into()];
        if let Some(a) = arch {
            args.push("--override-arch".into());
            args.push(a.into());
        }
        args.extend(self.skopeo_creds("--creds"));
        args.push(format!("docker://{}", self.reference(name_ref)));
        let out = skopeo(&args);
        assert!(
            out.code == 0,
            "skopeo inspect failed\n{out}\n{}",
            self.log()
        );
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("skopeo inspect printed no JSON ({e})\n{out}"))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop(&mut child);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        // The TempDir removes the storage and config.
    }
}

/// Writes the config for `port`, starts `docker-registry serve` and waits
/// until `GET /v2/` answers `expected`. On failure the registry is stopped
/// and the error carries its log.
fn try_serve(
    dir: &Path,
    storage: &Path,
    port: u16,
    auth: &str,
    expected: u16,
) -> Result<Child, String> {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: rd-test-secret\n\
             {auth}",
            storage.display()
        ),
    )
    .expect("writing the registry's config");
    let log_path = dir.join("registry.log");
    let log = std::fs::File::create(&log_path).expect("creating the registry's log");
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .expect("starting docker-registry (apt-get install docker-registry)");
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = |child: &mut Child, why: String| {
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        Err(format!("{why}\n--- registry log ---\n{log}"))
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "docker-registry exited at start ({status})\n--- registry log ---\n{log}"
            ));
        }
        if let Ok((status, _)) = http_get(&host, "/v2/") {
            if status == expected {
                return Ok(child);
            }
            return failed(
                &mut child,
                format!(
                    "the registry on {host} answered GET /v2/ with {status}, expected {expected}"
                ),
            );
        }
        if Instant::now() >= deadline {
            return failed(
                &mut child,
                format!("the registry on {host} did not answer within 20 s"),
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary directory for an OCI layout (under /var/tmp, like skopeo's
/// own temporary files).
fn layout_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rd-oci-")
        .tempdir_in("/var/tmp")
        .expect("creating an OCI layout directory")
}

fn skopeo(args: &[String]) -> Output {
    // As root, skopeo keeps a blob-info cache in /var/lib/containers/cache:
    // a host change. A private mount namespace with a tmpfs over /var/lib
    // gives it somewhere to write that vanishes with it.
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount -t tmpfs tmpfs /var/lib && exec skopeo \"$@\"",
        "skopeo",
    ]);
    cmd.args(args);
    run_with_timeout(&mut cmd, SKOPEO_TIMEOUT)
}

/// A port nobody listened on a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// A minimal HTTP/1.0 GET: status code and body.
pub fn http_get(host: &str, path: &str) -> std::io::Result<(u16, String)> {
    let (status, body) = http_get_bytes(host, path)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A minimal HTTP/1.0 GET: status code and body bytes.
pub fn http_get_bytes(host: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {head:?}")))?;
    Ok((status, buf[end + 4..].to_vec()))
}

/// The Debian bookworm minbase rootfs tarball (.tar.gz) from
/// `scripts/debian-rootfs.sh` (debootstrap, cached in /var/cache/rd-test).
#[track_caller]
pub fn debian_rootfs() -> PathBuf {
    static PATH: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut guard = PATH.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-rootfs.sh");
    let out = run_with_timeout(
        Command::new(&script).stdin(Stdio::null()),
        Duration::from_secs(600),
    );
    assert!(out.code == 0, "scripts/debian-rootfs.sh failed\n{out}");
    let path = PathBuf::from(out.stdout.trim());
    assert!(
        path.is_file(),
        "debian-rootfs.sh printed {path:?}, not a file\n{out}"
    );
    *guard = Some(path.clone());
    path
}

/// Pushes the Debian rootfs as the one-layer image NAME:TAG (the tarball's
/// gzip bytes as the layer blob).
#[track_caller]
pub fn push_debian(reg: &Registry, name_tag: &str) -> Built {
    static LAYER: std::sync::Mutex<Option<Arc<oci::Layer>>> = std::sync::Mutex::new(None);
    let layer = {
        let mut g = LAYER.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(|| {
            Arc::new(oci::Layer::from_compressed(
                std::fs::read(debian_rootfs()).expect("reading the Debian rootfs tarball"),
                oci::Compression::Gzip,
            ))
        })
        .clone()
    };
    let image = ImageSpec::new(vec![(*layer).clone()]).config(oci::Config {
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cmd: Some(vec!["bash".into()]),
        ..oci::Config::default()
    });
    reg.push_image(name_tag, &image)
}

/// True if `program` runs (`program --version`).
pub fn have(program: &str) -> bool {
    host("sh", &["-c", &format!("command -v {program} >/dev/null")]).code == 0
}

// ---------------------------------------------------------------- proxy

/// A TCP proxy on 127.0.0.1 in front of a registry that passes the
/// registry's answers on at most `rate` bytes per second (settable while
/// it runs; 0 = unlimited). Stopped on drop.
pub struct SlowProxy {
    port: u16,
    rate: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Bytes passed from the registry to clients so far.
    passed: Arc<AtomicU64>,
}

impl SlowProxy {
    pub fn start(target: &str, rate: u64) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let rate = Arc::new(AtomicU64::new(rate));
        let stop = Arc::new(AtomicBool::new(false));
        let passed = Arc::new(AtomicU64::new(0));
        let target = target.to_string();
        {
            let (rate, stop, passed) = (rate.clone(), stop.clone(), passed.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let _ = client.set_nonblocking(false);
                            let Ok(upstream) = TcpStream::connect(&target) else {
                                continue;
                            };
                            let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
                                (Ok(c), Ok(u)) => (c, u),
                                _ => continue,
                            };
                            let stop1 = stop.clone();
                            thread::spawn(move || pipe(client, upstream, None, stop1));
                            let (rate, stop2, passed) =
                                (rate.clone(), stop.clone(), passed.clone());
                            thread::spawn(move || pipe(u2, c2, Some((rate, passed)), stop2));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        SlowProxy {
            port,
            rate,
            stop,
            passed,
        }
    }

    /// "127.0.0.1:PORT" of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn reference(&self, name_tag: &str) -> String {
        format!("{}/{name_tag}", self.host())
    }

    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies `from` to `to`; with a rate, sleeps to keep to it.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 16 * 1024];
    let mut window_start = Instant::now();
    let mut window_bytes: u64 = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => break,
        };
        if let Some((rate, passed)) = &limit {
            let r = rate.load(Ordering::Relaxed);
            if r > 0 {
                window_bytes += n as u64;
                let due = Duration::from_secs_f64(window_bytes as f64 / r as f64);
                let elapsed = window_start.elapsed();
                if due > elapsed {
                    thread::sleep(due - elapsed);
                }
                if elapsed > Duration::from_secs(1) {
                    window_start = Instant::now();
                    window_bytes = 0;
                }
            }
            passed.fetch_add(n as u64, Ordering::Relaxed);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
