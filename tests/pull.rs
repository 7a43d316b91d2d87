//! `rd pull` from a real OCI registry: Debian's docker-registry on
//! 127.0.0.1 (its own config, storage and port per test), images written
//! by the tests as OCI layouts and pushed with skopeo. Each test checks what
//! a user would notice: the image runs with the right files and config, the
//! store holds each layer once, and every failure is one `rd: ` line, exit
//! 125, with nothing left half-stored and nothing written outside the store.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::oci::{
    self, busybox_image, busybox_layer, files_tar, Built, Compression, Config, Entry, ImageSpec,
    IndexSpec, Layer, Tar, PATH_ENV,
};
use common::registry::{http_get_bytes, push_debian, Registry, SlowProxy};
use common::{rd_bin, run_with_timeout, Output, Rd, Running};

/// A pull of the Debian image (about 50 MB) may take a while on a busy
/// machine; the small images take well under a second.
const PULL_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------- helpers

/// `rd --root ROOT pull ARGS...`, without registry credentials from the
/// test's own environment.
#[track_caller]
fn pull(rd: &Rd, args: &[&str]) -> Output {
    let mut all = vec!["pull"];
    all.extend_from_slice(args);
    let mut cmd = rd.command(&all);
    cmd.env_remove("RD_REGISTRY_USERNAME")
        .env_remove("RD_REGISTRY_PASSWORD");
    run_with_timeout(&mut cmd, PULL_TIMEOUT)
}

/// `rd pull ARGS...` that must succeed and name `digest` on its last line.
#[track_caller]
fn pull_ok(rd: &Rd, args: &[&str], digest: &str) -> Output {
    let out = pull(rd, args);
    out.assert_ok().assert_no_panic();
    let last = out
        .stdout_lines()
        .last()
        .map(|l| l.to_string())
        .unwrap_or_default();
    assert!(
        last.contains(digest),
        "expected the last line of `rd pull` to name the digest {digest}\n{out}"
    );
    out
}

/// `rd run -i IMAGE -- ARGS...` that must succeed; its stdout lines.
#[track_caller]
fn run_ok(rd: &Rd, image: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-i", image];
    if !args.is_empty() {
        all.push("--");
        all.extend_from_slice(args);
    }
    let out = rd.run_timeout(&all, PULL_TIMEOUT);
    out.assert_ok().assert_no_panic();
    out.stdout_lines().iter().map(|l| l.to_string()).collect()
}

/// `sh -c SCRIPT` in IMAGE: its stdout lines.
#[track_caller]
fn sh(rd: &Rd, image: &str, script: &str) -> Vec<String> {
    run_ok(rd, image, &["/bin/sh", "-c", script])
}

/// The names of the directories in `<root>/layers/` (rd may keep files
/// about a layer next to its directory; those are not layers).
fn layer_dirs(rd: &Rd) -> BTreeSet<String> {
    rd.entries("layers")
        .into_iter()
        .filter(|n| rd.root().join("layers").join(n).is_dir())
        .collect()
}

/// Files (not directories) under `<root>/images/`: the image records.
fn image_records(rd: &Rd) -> Vec<PathBuf> {
    rd.tree("images")
        .into_iter()
        .filter(|p| !p.is_dir())
        .collect()
}

/// A failed pull stored nothing: no layer directory, no image record, no
/// work left in `<root>/tmp`.
#[track_caller]
fn assert_nothing_stored(rd: &Rd, out: &dyn std::fmt::Display) {
    assert!(
        rd.entries("layers").is_empty(),
        "layer directories left after a failed pull: {:?}\n{out}",
        rd.entries("layers")
    );
    assert!(
        image_records(rd).is_empty(),
        "image records left after a failed pull: {:?}\n{out}",
        image_records(rd)
    );
    assert!(
        rd.entries("tmp").is_empty(),
        "work in progress left in {}: {:?}\n{out}",
        rd.root().join("tmp").display(),
        rd.entries("tmp")
    );
    assert!(
        rd.entries("blobs/sha256").is_empty(),
        "manifests or configs kept after a failed pull: {:?}\n{out}",
        rd.entries("blobs/sha256")
    );
}

/// The row of `rd images` for NAME and TAG (first two columns).
#[track_caller]
fn images_row(rd: &Rd, name: &str, tag: &str) -> Option<String> {
    let out = rd.rd(&["images"]);
    out.assert_ok();
    out.stdout
        .lines()
        .find(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&name) && cols.get(1) == Some(&tag)
        })
        .map(str::to_string)
}

/// The `rd images` text, for messages.
fn images_text(rd: &Rd) -> String {
    rd.rd(&["images"]).stdout
}

/// (name, inode) of every layer directory: an unchanged set proves that a
/// second pull neither unpacked nor replaced anything.
fn layer_inodes(rd: &Rd) -> Vec<(String, u64)> {
    rd.entries("layers")
        .into_iter()
        .map(|n| {
            let ino = std::fs::metadata(rd.root().join("layers").join(&n))
                .map(|m| m.ino())
                .unwrap_or(0);
            (n, ino)
        })
        .collect()
}

/// busybox plus one small layer of files.
fn busybox_plus(files: &[(&str, &str)], compression: Compression) -> ImageSpec {
    let mut img = busybox_image();
    img.layers.push(Layer::new(&files_tar(files), compression));
    img
}

/// True once process `pid` (our child) has exited: a zombie or gone.
fn has_exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_none_or(|state| state == "Z"),
        Err(_) => true,
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

// ---------------------------------------------------------------- the push side

/// The harness itself, independent of `rd pull`: every kind of test image
/// reaches the registry byte for byte (skopeo reads back the very manifest,
/// index and digests written here), with and without htpasswd auth.
#[test]
fn harness_pushes_every_kind_of_test_image() {
    let reg = Registry::start();
    let b = reg.push_image("busybox:1", &busybox_image());
    let info = reg.inspect("busybox:1", None);
    assert_eq!(info["Digest"].as_str(), Some(b.manifest_digest.as_str()));
    assert_eq!(
        reg.inspect_raw(&format!("busybox@{}", b.manifest_digest)),
        b.manifest
    );
    assert_eq!(
        info["Layers"].as_array().map(|a| a.len()),
        Some(1),
        "one layer\n{info:#}"
    );

    // Per-layer compression, several layers.
    let mut mixed = busybox_plus(&[("a/b.txt", "b\n")], Compression::Zstd);
    mixed.layers.push(Layer::new(
        &files_tar(&[("c.txt", "c\n")]),
        Compression::None,
    ));
    let m = reg.push_image("mixed:1", &mixed);
    assert_eq!(reg.inspect_raw("mixed:1"), m.manifest);
    let manifest: serde_json::Value = serde_json::from_slice(&m.manifest).unwrap();
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(types, [oci::LAYER_GZIP, oci::LAYER_ZSTD, oci::LAYER_TAR]);

    // Config as written.
    let cfg = reg.push_image("cfg:1", &config_image());
    let info = reg.inspect("cfg:1", None);
    assert_eq!(info["Digest"].as_str(), Some(cfg.manifest_digest.as_str()));
    assert!(
        info["Env"].to_string().contains("GREETING=from-image"),
        "{info:#}"
    );

    // A multi-platform index with an attestation manifest.
    let bi = reg.push_index("multi:1", &multi_platform_index());
    assert_eq!(reg.inspect_raw("multi:1"), bi.index);
    let index: serde_json::Value = serde_json::from_slice(&bi.index).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "amd64, arm64, attestation\n{index:#}");
    for (i, (img, arch)) in bi.images.iter().zip(["amd64", "arm64"]).enumerate() {
        assert_eq!(entries[i]["platform"]["architecture"].as_str(), Some(arch));
        assert_eq!(
            entries[i]["digest"].as_str(),
            Some(img.manifest_digest.as_str())
        );
        let raw = reg.inspect_raw(&format!("multi@{}", img.manifest_digest));
        assert_eq!(raw, img.manifest, "{arch}");
    }
    assert_eq!(
        entries[2]["annotations"]["vnd.docker.reference.type"].as_str(),
        Some("attestation-manifest")
    );
    let att = bi.attestation.as_ref().unwrap();
    assert_eq!(
        reg.inspect_raw(&format!("multi@{}", att.manifest_digest)),
        att.manifest
    );

    // Hostile entries survive the push unchanged.
    let marker = unique_marker();
    let hostile = reg.push_image(
        "hostile:1",
        &hostile_image(&marker, Path::new("/var/tmp/none")),
    );
    assert_eq!(reg.inspect_raw("hostile:1"), hostile.manifest);
    let blob = std::fs::read(reg.blob_path(&hostile.layer_digests[0])).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
    let entries: Vec<(tar::EntryType, String, String)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (e.header().entry_type(), name, link)
        })
        .collect();
    for (kind, name, link) in [
        (tar::EntryType::Regular, format!("../{marker}-up1"), ""),
        (tar::EntryType::Regular, format!("/tmp/{marker}-abs"), ""),
        (tar::EntryType::Symlink, ".".to_string(), "/tmp"),
        (
            tar::EntryType::Link,
            "passwd-link".to_string(),
            "/etc/passwd",
        ),
        (tar::EntryType::Char, "dev-mem".to_string(), ""),
    ] {
        assert!(
            entries
                .iter()
                .any(|(k, n, l)| *k == kind && *n == name && l == link),
            "the pushed hostile layer lacks {kind:?} {name} -> {link:?}: {entries:#?}"
        );
    }

    // The registry's storage is where corruption tests look for blobs.
    assert!(reg.blob_path(&b.config_digest).is_file());
    assert!(reg.blob_path(&b.manifest_digest).is_file());

    // The throttling proxy passes blobs through intact, at its rate.
    let proxy = SlowProxy::start(&reg.host(), 2 << 20);
    let started = Instant::now();
    let (status, blob) = http_get_bytes(
        &proxy.host(),
        &format!("/v2/busybox/blobs/{}", b.layer_digests[0]),
    )
    .expect("GET a blob through the proxy");
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(oci::digest(&blob), b.layer_digests[0]);
    let least = Duration::from_secs_f64(blob.len() as f64 / (2 << 20) as f64 * 0.8);
    assert!(took >= least, "{} bytes in {took:?} at 2 MB/s", blob.len());
    assert!(proxy.passed() >= blob.len() as u64);
    drop(proxy);

    // Debian bookworm.
    let d = push_debian(&reg, "debian:bookworm");
    let info = reg.inspect("debian:bookworm", None);
    assert_eq!(info["Digest"].as_str(), Some(d.manifest_digest.as_str()));
    assert_eq!(info["Os"].as_str(), Some("linux"));

    // Unknown tag / repository: the registry's own words.
    assert_eq!(
        reg.error_message("/v2/busybox/manifests/nope"),
        "manifest unknown"
    );

    // htpasswd: 401 without credentials, pushes and inspects with them.
    let auth = Registry::start_with_htpasswd("student", "s3cret");
    assert_eq!(auth.get("/v2/").0, 401);
    let a = auth.push_image("busybox:1", &busybox_image());
    let info = auth.inspect("busybox:1", None);
    assert_eq!(info["Digest"].as_str(), Some(a.manifest_digest.as_str()));
}

// ---------------------------------------------------------------- 1. basics

#[test]
fn pull_by_tag_and_by_digest_runs_lists_and_second_pull_stores_nothing_new() {
    let reg = Registry::start();
    let built = reg.push_image("busybox:1", &busybox_image());
    let rd = Rd::new();
    let image = reg.reference("busybox:1");

    pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(
        layer_dirs(&rd),
        built.layer_dir_names(),
        "expected one layer directory per diff_id in {}",
        rd.root().join("layers").display()
    );
    assert!(
        rd.entries("tmp").is_empty(),
        "work left in tmp: {:?}",
        rd.entries("tmp")
    );

    assert_eq!(
        run_ok(&rd, &image, &["cat", "/etc/image-name"]),
        ["rd test busybox"]
    );

    let row = images_row(&rd, &reg.reference("busybox"), "1")
        .unwrap_or_else(|| panic!("`rd images` does not list {image}\n{}", images_text(&rd)));
    let hex = oci::hex(&built.manifest_digest);
    assert!(
        row.contains(&hex[..12]),
        "expected the image's row to show its digest {}\n{row}",
        built.manifest_digest
    );
    assert!(
        row.split_whitespace().count() >= 4,
        "NAME TAG DIGEST SIZE: {row}"
    );

    // Again: nothing to download or unpack, the same layer directories.
    let before = layer_inodes(&rd);
    let again = pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(
        layer_inodes(&rd),
        before,
        "a second pull of the same image replaced layer directories\n{again}"
    );

    // By digest.
    let by_digest = format!("{}/busybox@{}", reg.host(), built.manifest_digest);
    pull_ok(&rd, &[&by_digest], &built.manifest_digest);
    assert_eq!(
        layer_inodes(&rd),
        before,
        "pull by digest re-stored a layer"
    );
    assert_eq!(
        run_ok(&rd, &by_digest, &["cat", "/etc/image-name"]),
        ["rd test busybox"]
    );
    rd.finish();
}

#[test]
fn pull_by_digest_into_an_empty_store() {
    let reg = Registry::start();
    let built = reg.push_image("busybox:1", &busybox_image());
    let rd = Rd::new();
    let by_digest = format!("{}/busybox@{}", reg.host(), built.manifest_digest);
    pull_ok(&rd, &[&by_digest], &built.manifest_digest);
    assert_eq!(layer_dirs(&rd), built.layer_dir_names());
    assert_eq!(
        run_ok(&rd, &by_digest, &["cat", "/etc/image-name"]),
        ["rd test busybox"]
    );
    rd.finish();
}

#[test]
fn run_pulls_a_missing_image() {
    let reg = Registry::start();
    let built = reg.push_image("busybox:1", &busybox_image());
    let rd = Rd::new();
    let image = reg.reference("busybox:1");
    let out = rd.run_timeout(
        &["-i", &image, "--", "cat", "/etc/image-name"],
        PULL_TIMEOUT,
    );
    out.assert_ok().assert_no_panic();
    assert!(
        out.stdout_lines().contains(&"rd test busybox"),
        "expected the container's output after the pull\n{out}"
    );
    assert_eq!(layer_dirs(&rd), built.layer_dir_names());
    assert!(
        images_row(&rd, &reg.reference("busybox"), "1").is_some(),
        "`rd run` pulled the image but `rd images` does not list it\n{}",
        images_text(&rd)
    );
    rd.finish();
}

// ---------------------------------------------------------------- 2. layers

/// busybox, then a layer of files, then a layer that deletes and replaces
/// some of them and adds links.
fn layered_image() -> ImageSpec {
    let mut lower = Tar::new();
    lower
        .dir("data")
        .file("data/keep.txt", "keep\n")
        .file("data/gone.txt", "gone\n")
        .dir("data/olddir")
        .file("data/olddir/inner", "inner\n")
        .add(
            Entry::file("data/suid", "#!/bin/sh\necho suid\n")
                .mode(0o4755)
                .owner(1000, 1000),
        )
        .add(
            Entry::file("data/owned", "owned\n")
                .mode(0o640)
                .owner(1234, 5678),
        )
        .add(Entry::dir("data/sticky").mode(0o1777))
        .dir("opq")
        .file("opq/old1", "old1\n")
        .dir("opq/sub")
        .file("opq/sub/old2", "old2\n");
    let mut upper = Tar::new();
    upper
        .dir("data")
        .whiteout("data/gone.txt")
        .whiteout("data/olddir")
        .dir("opq")
        .opaque("opq")
        .file("opq/new", "new\n")
        .dir("links")
        .file("links/target.txt", "T\n")
        .hardlink("links/hard", "links/target.txt")
        .symlink("links/soft", "target.txt")
        .symlink("links/abs", "/links/target.txt");
    let mut img = busybox_image();
    img.layers
        .push(Layer::new(&lower.into_bytes(), Compression::Gzip));
    img.layers
        .push(Layer::new(&upper.into_bytes(), Compression::Gzip));
    img
}

#[test]
fn layers_stack_with_whiteouts_opaque_dirs_links_modes_and_owners() {
    let reg = Registry::start();
    let built = reg.push_image("layered:1", &layered_image());
    let rd = Rd::new();
    let image = reg.reference("layered:1");
    pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(
        layer_dirs(&rd),
        built.layer_dir_names(),
        "three layers, three directories"
    );

    let script = r#"
        for p in /data/gone.txt /data/olddir /data/keep.txt /opq/old1 /opq/sub; do
            if test -e $p; then echo "$p present"; else echo "$p absent"; fi
        done
        echo "keep: $(cat /data/keep.txt)"
        echo "opq: $(ls -A /opq)"
        echo "suid: $(stat -c '%a %u %g' /data/suid)"
        echo "owned: $(stat -c '%a %u %g' /data/owned)"
        echo "sticky: $(stat -c '%a' /data/sticky)"
        echo "hard: $(stat -c %i /links/target.txt) $(stat -c %i /links/hard) $(stat -c %h /links/hard)"
        echo "soft: $(readlink /links/soft) $(cat /links/soft)"
        echo "abs: $(readlink /links/abs) $(cat /links/abs)"
    "#;
    let lines = sh(&rd, &image, script);
    let text = lines.join("\n");
    for want in [
        "/data/gone.txt absent",
        "/data/olddir absent",
        "/data/keep.txt present",
        "/opq/old1 absent",
        "/opq/sub absent",
        "keep: keep",
        "opq: new",
        "suid: 4755 1000 1000",
        "owned: 640 1234 5678",
        "sticky: 1777",
        "soft: target.txt T",
        "abs: /links/target.txt T",
    ] {
        assert!(
            lines.iter().any(|l| l == want),
            "expected the line {want:?} in the container\n{text}"
        );
    }
    let hard = lines
        .iter()
        .find_map(|l| l.strip_prefix("hard: "))
        .unwrap_or_else(|| panic!("no hard: line\n{text}"));
    let f: Vec<&str> = hard.split_whitespace().collect();
    assert!(
        f.len() == 3 && f[0] == f[1] && f[2] == "2",
        "expected links/hard to be a hard link of links/target.txt (same inode, 2 links): {hard}\n{text}"
    );
    rd.finish();
}

#[test]
fn images_sharing_a_layer_share_its_directory_until_the_last_rmi() {
    let reg = Registry::start();
    let a = reg.push_image("a:1", &busybox_plus(&[("a.txt", "a\n")], Compression::Gzip));
    let b = reg.push_image("b:1", &busybox_plus(&[("b.txt", "b\n")], Compression::Gzip));
    assert_eq!(
        a.diff_ids[0], b.diff_ids[0],
        "the busybox layer is the same"
    );
    let rd = Rd::new();
    let (ia, ib) = (reg.reference("a:1"), reg.reference("b:1"));
    pull_ok(&rd, &[&ia], &a.manifest_digest);
    pull_ok(&rd, &[&ib], &b.manifest_digest);
    let both: BTreeSet<String> = a
        .layer_dir_names()
        .union(&b.layer_dir_names())
        .cloned()
        .collect();
    assert_eq!(both.len(), 3);
    assert_eq!(
        layer_dirs(&rd),
        both,
        "the shared busybox layer is stored once"
    );

    rd.rd(&["rmi", &ia]).assert_ok();
    assert_eq!(
        layer_dirs(&rd),
        b.layer_dir_names(),
        "rmi a must delete a's own layer and keep the shared one"
    );
    assert!(
        images_row(&rd, &reg.reference("a"), "1").is_none(),
        "`rd images` still lists a\n{}",
        images_text(&rd)
    );
    assert_eq!(
        sh(&rd, &ib, "cat /b.txt /etc/image-name"),
        ["b", "rd test busybox"]
    );

    rd.rd(&["rmi", &ib]).assert_ok();
    assert!(
        layer_dirs(&rd).is_empty(),
        "layers left after removing every image: {:?}",
        layer_dirs(&rd)
    );
    let left: Vec<String> = rd
        .entries("layers")
        .into_iter()
        .filter(|n| both.iter().any(|hex| n.starts_with(hex.as_str())))
        .collect();
    assert!(
        left.is_empty(),
        "removed layers left files behind: {left:?}"
    );
    assert!(
        image_records(&rd).is_empty(),
        "records left: {:?}",
        image_records(&rd)
    );
    rd.finish();
}

// ---------------------------------------------------------------- 4. config

/// busybox plus /srv/app (owned by student); Env, WorkingDir, User, Cmd.
fn config_image() -> ImageSpec {
    let mut t = Tar::new();
    t.dir("srv").add(Entry::dir("srv/app").owner(1000, 1000));
    let mut img = busybox_image().config(Config {
        env: vec![
            PATH_ENV.into(),
            "GREETING=from-image".into(),
            "KEEP=kept".into(),
        ],
        cmd: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo $GREETING $KEEP; pwd; id -u".into(),
        ]),
        working_dir: Some("/srv/app".into()),
        user: Some("student".into()),
        entrypoint: None,
    });
    img.layers
        .push(Layer::new(&t.into_bytes(), Compression::Gzip));
    img
}

#[test]
fn image_config_env_cmd_workdir_user_are_honoured_and_options_win() {
    let reg = Registry::start();
    let built = reg.push_image("cfg:1", &config_image());
    let entry = reg.push_image(
        "entry:1",
        &busybox_image().config(Config {
            env: vec![PATH_ENV.into()],
            entrypoint: Some(vec!["/bin/echo".into(), "from-entrypoint".into()]),
            cmd: Some(vec!["from-cmd".into()]),
            ..Config::default()
        }),
    );
    let rd = Rd::new();
    let image = reg.reference("cfg:1");
    let ientry = reg.reference("entry:1");
    pull_ok(&rd, &[&image], &built.manifest_digest);
    pull_ok(&rd, &[&ientry], &entry.manifest_digest);

    // No command: the image's Cmd, in its WorkingDir, as its User, with its Env.
    assert_eq!(
        run_ok(&rd, &image, &[]),
        ["from-image kept", "/srv/app", "1000"]
    );
    // -e overrides by key, the other variables stay.
    let out = rd.run(&["-i", &image, "-e", "GREETING=from-cli"]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["from-cli kept", "/srv/app", "1000"],
        "\n{out}"
    );
    // -w and -u win over the image's; a command replaces Cmd; Env stays.
    let out = rd.run(&[
        "-i",
        &image,
        "-w",
        "/tmp",
        "-u",
        "root",
        "--",
        "sh",
        "-c",
        "pwd; id -u; echo $GREETING",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout_lines(), ["/tmp", "0", "from-image"], "\n{out}");

    // Entrypoint + Cmd; a command replaces Cmd and keeps the Entrypoint.
    assert_eq!(run_ok(&rd, &ientry, &[]), ["from-entrypoint from-cmd"]);
    assert_eq!(run_ok(&rd, &ientry, &["extra"]), ["from-entrypoint extra"]);
    rd.finish();
}

// ---------------------------------------------------------------- 5. platforms

/// linux/amd64 and linux/arm64/v8 (each with /etc/platform naming it; both
/// run on this amd64 host since the busybox is the host's) and an
/// attestation manifest for the amd64 one.
fn multi_platform_index() -> IndexSpec {
    let amd = busybox_plus(&[("etc/platform", "amd64\n")], Compression::Gzip);
    let arm = busybox_plus(&[("etc/platform", "arm64\n")], Compression::Gzip).platform(
        "linux",
        "arm64",
        Some("v8"),
    );
    IndexSpec {
        images: vec![amd, arm],
        attestation: true,
    }
}

#[test]
fn index_pull_picks_linux_amd64_and_platform_option_selects_or_refuses() {
    let reg = Registry::start();
    let bi = reg.push_index("multi:1", &multi_platform_index());
    let image = reg.reference("multi:1");
    let (amd, arm) = (&bi.images[0], &bi.images[1]);

    let rd = Rd::new();
    let out = pull(&rd, &[&image]);
    out.assert_ok().assert_no_panic();
    assert_eq!(
        layer_dirs(&rd),
        amd.layer_dir_names(),
        "expected the linux/amd64 image's layers only\n{out}"
    );
    assert_eq!(run_ok(&rd, &image, &["cat", "/etc/platform"]), ["amd64"]);
    rd.finish();

    let rd = Rd::new();
    let out = pull(&rd, &["--platform", "linux/arm64", &image]);
    out.assert_ok().assert_no_panic();
    assert_eq!(
        layer_dirs(&rd),
        arm.layer_dir_names(),
        "linux/arm64's layers\n{out}"
    );
    rd.finish();

    let rd = Rd::new();
    let out = pull(&rd, &["--platform", "linux/s390x", &image]);
    out.assert_rd_error();
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            out.stderr.contains(p),
            "expected the error to name {p}\n{out}"
        );
    }
    assert!(
        !out.stderr.contains("unknown/unknown"),
        "the attestation entry is not a platform\n{out}"
    );
    assert_nothing_stored(&rd, &out);
    rd.finish();
}

// ---------------------------------------------------------------- 6. compression

fn pull_and_run_compressed(compression: Compression) {
    let reg = Registry::start();
    let mut img = ImageSpec::new(vec![busybox_layer(compression)]).config(Config {
        env: vec![PATH_ENV.into()],
        cmd: Some(vec!["sh".into()]),
        ..Config::default()
    });
    img.layers.push(Layer::new(
        &files_tar(&[("etc/extra", "extra layer\n")]),
        compression,
    ));
    let built = reg.push_image("c:1", &img);
    let rd = Rd::new();
    let image = reg.reference("c:1");
    pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(layer_dirs(&rd), built.layer_dir_names());
    assert_eq!(
        sh(&rd, &image, "cat /etc/image-name /etc/extra"),
        ["rd test busybox", "extra layer"]
    );
    rd.finish();
}

#[test]
fn zstd_layers_pull_and_run() {
    pull_and_run_compressed(Compression::Zstd);
}

#[test]
fn uncompressed_layers_pull_and_run() {
    pull_and_run_compressed(Compression::None);
}

// ---------------------------------------------------------------- 7. corruption

/// Pushes `image`, lets `corrupt` damage one blob in the registry's storage,
/// pulls `reference(reg, built)` and expects a digest mismatch with nothing
/// stored.
fn corrupted(image: ImageSpec, corrupt: impl FnOnce(&Registry, &Built), by_digest: bool) {
    let reg = Registry::start();
    let built = reg.push_image("bad:1", &image);
    corrupt(&reg, &built);
    let rd = Rd::new();
    let target = if by_digest {
        format!("{}/bad@{}", reg.host(), built.manifest_digest)
    } else {
        reg.reference("bad:1")
    };
    let out = pull(&rd, &[&target]);
    out.assert_rd_error();
    let msg = lower(&out.stderr);
    assert!(
        msg.contains("digest") && (msg.contains("mismatch") || msg.contains("match")),
        "expected a digest mismatch\n{out}"
    );
    assert_nothing_stored(&rd, &out);
    rd.finish();
}

/// Replaces the first `from` in the bytes with `to` (same length).
fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in the blob", String::from_utf8_lossy(from)));
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn corrupted_uncompressed_layer_is_a_digest_mismatch_and_stores_nothing() {
    // A valid tar whose file content changed: only the digest can tell.
    let img = ImageSpec::new(vec![busybox_layer(Compression::None)]);
    corrupted(
        img,
        |reg, b| {
            reg.corrupt_blob(&b.layer_digests[0], |bytes| {
                replace(bytes, b"rd test busybox", b"rd TEST busybox")
            })
        },
        false,
    );
}

#[test]
fn corrupted_gzip_layer_is_a_digest_mismatch_and_stores_nothing() {
    // The gzip header's mtime changed: still a valid gzip of the same tar.
    let img = busybox_image();
    corrupted(
        img,
        |reg, b| {
            reg.corrupt_blob(&b.layer_digests[0], |bytes| {
                bytes[4] ^= 0x5a;
            })
        },
        false,
    );
}

#[test]
fn corrupted_config_is_a_digest_mismatch_and_stores_nothing() {
    corrupted(
        busybox_image(),
        |reg, b| {
            reg.corrupt_blob(&b.config_digest, |bytes| {
                replace(bytes, b"rd tests", b"rd TESTS")
            })
        },
        false,
    );
}

#[test]
fn corrupted_manifest_pulled_by_digest_is_a_digest_mismatch_and_stores_nothing() {
    let img = busybox_image().annotation("org.opencontainers.image.description", "rd test image");
    corrupted(
        img,
        |reg, b| {
            reg.corrupt_blob(&b.manifest_digest, |bytes| {
                replace(bytes, b"rd test image", b"rd TEST image")
            })
        },
        true,
    );
}

// ---------------------------------------------------------------- 8. hostile layer

/// A name no other test or host file uses.
fn unique_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("rdhostile{}x{nanos}", std::process::id())
}

/// A layer that tries every way out of its directory. Every file it would
/// put outside has a name containing `marker`; `canary` is a host file it
/// tries to overwrite through a hard link.
fn hostile_image(marker: &str, canary: &Path) -> ImageSpec {
    let m = marker;
    let canary = canary.to_string_lossy();
    let deep = "../".repeat(12);
    let mut t = Tar::new();
    // Plain traversal and absolute names.
    t.file(&format!("../{m}-up1"), "x")
        .file(&format!("../../{m}-up2"), "x")
        .file(&format!("{deep}tmp/{m}-dotdot"), "x")
        .file(&format!("/tmp/{m}-abs"), "x")
        .file(&format!("./../{m}-dotslash"), "x");
    // A symlink to / (and to a host dir), then files through it.
    t.symlink("rootlink", "/")
        .file(&format!("rootlink/tmp/{m}-viaroot"), "x")
        .symlink("tmplink", "/tmp")
        .file(&format!("tmplink/{m}-viatmp"), "x");
    // Chained symlinks that end outside.
    t.symlink("c1", "c2")
        .symlink("c2", &format!("{deep}tmp"))
        .file(&format!("c1/{m}-chain"), "x");
    // A symlink to .. (the store), then a file through it.
    t.symlink("up", "..").file(&format!("up/{m}-viaup"), "x");
    // A symlink named "." (at the top and in a subdirectory).
    t.add(Entry::symlink(".", "/tmp"))
        .file(&format!("{m}-dot"), "x")
        .dir("sub")
        .add(Entry::symlink("sub/.", "/tmp"))
        .file(&format!("sub/{m}-dotsub"), "x");
    // Hard links to host files: absolute, relative, and one written through.
    t.hardlink("passwd-link", "/etc/passwd")
        .hardlink("passwd-rel", &format!("{deep}etc/passwd"))
        .hardlink("canary-link", &canary)
        .add(Entry::file("canary-link", "PWNED\n"));
    // Device nodes.
    t.add(Entry::char_device("dev-mem", 1, 1))
        .add(Entry::block_device("dev-disk", 8, 0))
        .add(Entry::char_device(format!("tmplink/{m}-dev"), 1, 3));
    // Something ordinary, so a careful unpacker has work to keep.
    t.file("ordinary.txt", "ordinary\n");
    ImageSpec::new(vec![Layer::new(&t.into_bytes(), Compression::Gzip)])
}

/// Names containing `marker` directly in the host directories a hostile
/// layer aims at (and their parents up to /).
fn escaped_on_host(marker: &str, rd: &Rd, canary: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/", "/tmp", "/var/tmp", "/etc", "/root", "/var", "/var/lib"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut p = rd.root().to_path_buf();
    while let Some(parent) = p.parent() {
        dirs.push(parent.to_path_buf());
        p = parent.to_path_buf();
    }
    let mut found = Vec::new();
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().contains(marker) && path != canary {
                found.push(path);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every path under `dir`, not following symlinks.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn hostile_layer_writes_nothing_outside_its_directory() {
    let marker = unique_marker();
    let canary = PathBuf::from(format!("/var/tmp/{marker}-canary"));
    std::fs::write(&canary, "canary\n").expect("writing the canary");
    let passwd_before = std::fs::read("/etc/passwd").expect("reading /etc/passwd");
    let passwd_meta = std::fs::metadata("/etc/passwd").unwrap();
    let canary_meta = std::fs::metadata(&canary).unwrap();

    let reg = Registry::start();
    let built = reg.push_image("hostile:1", &hostile_image(&marker, &canary));
    // rd pull works on this registry: a refusal below is about the layer.
    let benign = reg.push_image("busybox:1", &busybox_image());
    let rd = Rd::new();
    pull_ok(&rd, &[&reg.reference("busybox:1")], &benign.manifest_digest);
    rd.finish();
    let rd = Rd::new();
    let out = pull(&rd, &[&reg.reference("hostile:1")]);

    // Look at everything first, tidy the host, then judge.
    let escaped = escaped_on_host(&marker, &rd, &canary);
    let canary_after = std::fs::read_to_string(&canary).unwrap_or_default();
    let passwd_after = std::fs::read("/etc/passwd").unwrap_or_default();
    let layers_root = rd.root().join("layers");
    let mut misplaced = Vec::new();
    let mut devices = Vec::new();
    let mut host_links = Vec::new();
    for p in walk(rd.root()) {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Marker files may only be inside a layer directory.
        if name.contains(&marker) {
            let inside = p
                .strip_prefix(&layers_root)
                .map(|rest| rest.components().count() >= 2)
                .unwrap_or(false);
            if !inside {
                misplaced.push(p.clone());
            }
        }
        let ft = meta.file_type();
        // Overlay whiteouts are char 0:0; any other device is a device node.
        if (ft.is_char_device() || ft.is_block_device()) && meta.rdev() != 0 {
            devices.push(p.clone());
        }
        for (what, m) in [("/etc/passwd", &passwd_meta), ("the canary", &canary_meta)] {
            if meta.is_file() && meta.dev() == m.dev() && meta.ino() == m.ino() {
                host_links.push(format!("{} is a hard link of {what}", p.display()));
            }
        }
    }
    for p in &escaped {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(&canary);
    if passwd_after != passwd_before {
        // Put the host's /etc/passwd back before failing.
        let _ = std::fs::write("/etc/passwd", &passwd_before);
    }

    eprintln!(
        "hostile layer: exit {}, stderr:\n{}",
        out.code,
        out.stderr.trim_end()
    );
    out.assert_no_panic();
    assert!(
        out.code == 0 || out.code == 125,
        "expected success or a clean refusal (125)\n{out}"
    );
    assert!(passwd_after == passwd_before, "/etc/passwd changed!\n{out}");
    assert_eq!(
        canary_after, "canary\n",
        "a host file was overwritten through a hard link\n{out}"
    );
    assert!(
        escaped.is_empty(),
        "files escaped onto the host: {escaped:#?}\n{out}"
    );
    assert!(
        misplaced.is_empty(),
        "files outside the layer directory, in the state root: {misplaced:#?}\n{out}"
    );
    assert!(host_links.is_empty(), "{host_links:#?}\n{out}");
    assert!(
        devices.is_empty(),
        "device nodes were created: {devices:#?}\n{out}"
    );
    if out.code == 0 {
        assert_eq!(layer_dirs(&rd), built.layer_dir_names(), "\n{out}");
        let ordinary = layers_root
            .join(oci::hex(&built.diff_ids[0]))
            .join("ordinary.txt");
        assert!(
            ordinary.is_file(),
            "the layer's ordinary file is missing: {}\n{out}",
            ordinary.display()
        );
        assert!(
            rd.entries("tmp").is_empty(),
            "work left in tmp: {:?}",
            rd.entries("tmp")
        );
    } else {
        out.assert_rd_error();
        assert_nothing_stored(&rd, &out);
    }
    rd.finish();
}

// ---------------------------------------------------------------- 9. unknown

#[test]
fn unknown_tag_and_unknown_repository_give_the_registrys_words() {
    let reg = Registry::start();
    reg.push_image("busybox:1", &busybox_image());
    let rd = Rd::new();
    for (target, path) in [
        (reg.reference("busybox:nope"), "/v2/busybox/manifests/nope"),
        (reg.reference("nothere:1"), "/v2/nothere/manifests/1"),
    ] {
        let words = reg.error_message(path);
        let out = pull(&rd, &[&target]);
        out.assert_rd_error();
        assert!(
            out.stderr.contains(&words),
            "expected the registry's own words {words:?}\n{out}"
        );
        assert_nothing_stored(&rd, &out);
    }
    rd.finish();
}

// ---------------------------------------------------------------- 10. auth

#[test]
fn htpasswd_registry_needs_credentials_from_options_or_environment() {
    let reg = Registry::start_with_htpasswd("student", "s3cret");
    let built = reg.push_image("busybox:1", &busybox_image());
    let image = reg.reference("busybox:1");

    let rd = Rd::new();
    let out = pull(&rd, &[&image]);
    out.assert_rd_error();
    assert!(
        out.stderr.contains("login") || out.stderr.contains("--username"),
        "expected a hint to give credentials\n{out}"
    );
    assert_nothing_stored(&rd, &out);

    let out = pull(
        &rd,
        &["--username", "student", "--password", "wrong", &image],
    );
    out.assert_rd_error();
    assert!(
        lower(&out.stderr).contains("refused"),
        "expected 'refused'\n{out}"
    );
    assert_nothing_stored(&rd, &out);

    pull_ok(
        &rd,
        &["--username", "student", "--password", "s3cret", &image],
        &built.manifest_digest,
    );
    assert_eq!(
        run_ok(&rd, &image, &["cat", "/etc/image-name"]),
        ["rd test busybox"]
    );
    rd.finish();

    let rd = Rd::new();
    let mut cmd = rd.command(&["pull", &image]);
    cmd.env("RD_REGISTRY_USERNAME", "student")
        .env("RD_REGISTRY_PASSWORD", "s3cret");
    let out = run_with_timeout(&mut cmd, PULL_TIMEOUT);
    out.assert_ok().assert_no_panic();
    assert_eq!(layer_dirs(&rd), built.layer_dir_names(), "\n{out}");
    rd.finish();
}

// ---------------------------------------------------------------- 11. debian

#[test]
fn debian_bookworm_pulls_and_runs() {
    let reg = Registry::start();
    let built = push_debian(&reg, "debian:bookworm");
    let rd = Rd::new();
    let image = reg.reference("debian:bookworm");
    let start = Instant::now();
    pull_ok(&rd, &[&image], &built.manifest_digest);
    eprintln!("debian pull took {:?}", start.elapsed());
    assert_eq!(layer_dirs(&rd), built.layer_dir_names());

    let v = run_ok(&rd, &image, &["cat", "/etc/debian_version"]);
    assert!(
        v.len() == 1 && v[0].starts_with("12."),
        "expected Debian 12.x, got {v:?}"
    );
    assert_eq!(
        run_ok(&rd, &image, &["/bin/bash", "-c", "echo $0"]),
        ["/bin/bash"]
    );
    let apt = run_ok(&rd, &image, &["apt", "--version"]);
    assert!(
        apt.iter().any(|l| l.starts_with("apt ")),
        "apt --version: {apt:?}"
    );
    let n = run_ok(&rd, &image, &["/bin/sh", "-c", "dpkg -l | wc -l"]);
    let n: usize = n.last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(n > 50, "dpkg -l lists {n} lines, expected more than 50");
    rd.finish();
}

// ---------------------------------------------------------------- 12. concurrency

#[test]
fn two_concurrent_pulls_of_one_image_both_succeed_and_share_layers() {
    let reg = Registry::start();
    let mut img = busybox_plus(&[("one.txt", "one\n")], Compression::Gzip);
    img.layers.push(Layer::new(
        &files_tar(&[("two.txt", "two\n")]),
        Compression::Zstd,
    ));
    let built = reg.push_image("conc:1", &img);
    // About 1 MB of layers at 1 MB/s: the two pulls overlap.
    let proxy = SlowProxy::start(&reg.host(), 1 << 20);
    let image = proxy.reference("conc:1");
    let rd = Rd::new();
    let spawn = || {
        let mut cmd = rd.command(&["pull", &image]);
        cmd.env_remove("RD_REGISTRY_USERNAME")
            .env_remove("RD_REGISTRY_PASSWORD");
        Running::start(cmd)
    };
    let (a, b) = (spawn(), spawn());
    let (oa, ob) = (a.wait(PULL_TIMEOUT), b.wait(PULL_TIMEOUT));
    oa.assert_ok().assert_no_panic();
    ob.assert_ok().assert_no_panic();
    assert_eq!(layer_dirs(&rd), built.layer_dir_names(), "\n{oa}\n{ob}");
    assert!(
        rd.entries("tmp").is_empty(),
        "work left in tmp: {:?}",
        rd.entries("tmp")
    );
    assert_eq!(sh(&rd, &image, "cat /one.txt /two.txt"), ["one", "two"]);
    rd.finish();
}

// ---------------------------------------------------------------- 13. interrupted

#[test]
fn killed_pull_leaves_nothing_half_visible_and_a_new_pull_succeeds() {
    let reg = Registry::start();
    let built = push_debian(&reg, "debian:bookworm");
    // About 50 MB at 8 MB/s: several seconds to kill it in.
    let proxy = SlowProxy::start(&reg.host(), 8 << 20);
    let image = proxy.reference("debian:bookworm");
    let rd = Rd::new();
    let mut cmd = rd.command(&["pull", &image]);
    cmd.env_remove("RD_REGISTRY_USERNAME")
        .env_remove("RD_REGISTRY_PASSWORD");
    let running = Running::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.passed() < (4 << 20) {
        if has_exited(running.pid()) {
            let out = running.wait(Duration::from_secs(10));
            panic!("rd pull ended before 4 MB had arrived\n{out}");
        }
        assert!(
            Instant::now() < deadline,
            "the pull did not get 4 MB within 60 s ({} bytes)",
            proxy.passed()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let tmp_during = rd.entries("tmp");
    running.signal(nix::sys::signal::Signal::SIGKILL);
    let killed = running.wait(Duration::from_secs(30));
    assert_eq!(killed.code, 137, "rd was meant to die of SIGKILL\n{killed}");
    eprintln!(
        "killed after {} bytes; tmp held {tmp_during:?}",
        proxy.passed()
    );

    let debian_hex = oci::hex(&built.diff_ids[0]).to_string();
    assert!(
        layer_dirs(&rd).iter().all(|l| *l == debian_hex),
        "half-unpacked layer directories visible: {:?}",
        layer_dirs(&rd)
    );
    assert!(
        images_row(&rd, &proxy.reference("debian"), "bookworm").is_none(),
        "`rd images` lists an image whose pull was killed\n{}",
        images_text(&rd)
    );
    assert!(
        image_records(&rd).is_empty(),
        "records: {:?}",
        image_records(&rd)
    );

    proxy.set_rate(0);
    pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(layer_dirs(&rd), built.layer_dir_names());
    assert!(
        rd.entries("tmp").is_empty(),
        "the killed pull's work is still in tmp: {:?}",
        rd.entries("tmp")
    );
    let v = run_ok(&rd, &image, &["cat", "/etc/debian_version"]);
    assert!(v.len() == 1 && v[0].starts_with("12."), "{v:?}");
    rd.finish();
}

// ---------------------------------------------------------------- 14. bad input

#[test]
fn bad_reference_and_unreachable_registry_are_one_line_errors() {
    let rd = Rd::new();
    let out = pull(&rd, &["UPPER/x"]);
    out.assert_rd_error();
    assert!(
        ["UPPER", "lowercase", "reference", "invalid"]
            .iter()
            .any(|w| out.stderr.contains(w)),
        "expected the error to say what is wrong with the reference\n{out}"
    );
    assert_nothing_stored(&rd, &out);

    let out = pull(&rd, &["127.0.0.1:1/x"]);
    out.assert_rd_error();
    assert!(
        lower(&out.stderr).contains("cannot reach"),
        "expected 'cannot reach'\n{out}"
    );
    assert_nothing_stored(&rd, &out);
    rd.finish();
}

// ---------------------------------------------------------------- 15. disk full

#[test]
fn disk_full_is_one_line_and_stores_nothing() {
    let reg = Registry::start();
    push_debian(&reg, "debian:bookworm");
    let rd = Rd::new();
    let full = rd.root().join("full");
    std::fs::create_dir(&full).unwrap();
    let listing = rd.root().join("after.txt");
    // The 3 MB tmpfs exists only in a private mount namespace, so the
    // store's contents are listed there, before it goes away.
    let script = r#"
        mount -t tmpfs -o size=3m,mode=0700 rd-test-full "$1" || exit 99
        "$2" --root "$1" pull "$3"
        rc=$?
        find "$1" -mindepth 1 -printf '%y %P\n' > "$4"
        exit $rc
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&full)
        .arg(rd_bin())
        .arg(reg.reference("debian:bookworm"))
        .arg(&listing)
        .env_remove("RD_ROOT")
        .env_remove("RD_REGISTRY_USERNAME")
        .env_remove("RD_REGISTRY_PASSWORD");
    let out = run_with_timeout(&mut cmd, PULL_TIMEOUT);
    assert_ne!(out.code, 99, "could not mount the tmpfs\n{out}");
    out.assert_rd_error();
    let msg = lower(&out.stderr);
    assert!(
        msg.contains("no space") || msg.contains("disk full"),
        "expected 'no space' or 'disk full'\n{out}"
    );
    let after = std::fs::read_to_string(&listing).unwrap_or_default();
    let left: Vec<&str> = after
        .lines()
        .filter(|l| {
            let (kind, path) = l.split_once(' ').unwrap_or(("?", l));
            path.starts_with("layers/")
                || path.starts_with("tmp/")
                || (path.starts_with("images/") && kind != "d")
        })
        .collect();
    assert!(
        left.is_empty(),
        "the full store kept layers, records or work: {left:#?}\n{out}"
    );
    rd.finish();
}

// ---------------------------------------------------------------- many layers

/// An image of `n` layers: busybox, then one small file per layer.
fn many_layers(n: usize) -> ImageSpec {
    let mut layers = vec![busybox_layer(Compression::Gzip)];
    for i in 1..n {
        layers.push(Layer::new(
            &files_tar(&[(&format!("layers/{i:03}"), &format!("layer {i}\n"))]),
            Compression::Gzip,
        ));
    }
    ImageSpec::new(layers).config(Config {
        env: vec![PATH_ENV.into()],
        cmd: Some(vec!["sh".into()]),
        ..Config::default()
    })
}

#[test]
fn fifty_layers_stack_in_one_overlay_and_too_many_are_refused_clearly() {
    // 50 lowerdirs named by absolute paths (~95 bytes each under this test's
    // root) would overflow mount(2)'s one page of options; rd names them
    // relative to the layers' directory (65 bytes each), so they fit.
    let reg = Registry::start();
    let built = reg.push_image("many:50", &many_layers(50));
    let rd = Rd::new();
    let image = reg.reference("many:50");
    pull_ok(&rd, &[&image], &built.manifest_digest);
    assert_eq!(layer_dirs(&rd).len(), 50);
    assert_eq!(
        sh(
            &rd,
            &image,
            "cat /layers/001 /layers/049; ls /layers | wc -l"
        ),
        vec!["layer 1", "layer 49", "49"]
    );

    // 80 layers do not fit even so: one line before any container exists.
    let built = reg.push_image("many:80", &many_layers(80));
    let image = reg.reference("many:80");
    pull_ok(&rd, &[&image], &built.manifest_digest);
    let out = rd.run_timeout(&["-i", &image, "--", "true"], PULL_TIMEOUT);
    out.assert_rd_error()
        .assert_stderr_contains("80 layers")
        .assert_stderr_contains("overlay");
    rd.assert_no_containers(&out);
    rd.finish();
}
