//! `rd import`: a root filesystem tarball becomes a runnable image, with
//! modes (setuid included), owners and symlinks preserved.

mod common;

use common::{make_mini_rootfs, make_tarball, Rd};

fn import_and_check(gzip: bool) {
    let rd = Rd::new();
    let src = rd.root().join("src");
    make_mini_rootfs(&src);
    let tarball = rd
        .root()
        .join(if gzip { "mini.tar.gz" } else { "mini.tar" });
    make_tarball(&src, &tarball, gzip);

    let out = rd.rd(&["import", &tarball.to_string_lossy(), "mini"]);
    out.assert_ok().assert_no_panic();

    let images = rd.rd(&["images"]);
    images.assert_ok();
    assert!(
        images
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some("mini")),
        "expected `rd images` to list mini\n{images}"
    );

    let run = rd.run(&[
        "-i",
        "mini",
        "--",
        "/bin/sh",
        "-c",
        "stat -c '%a %u:%g' /file; readlink /bin/sh",
    ]);
    run.assert_ok();
    assert_eq!(
        run.stdout_lines(),
        ["4755 1000:1000", "busybox"],
        "expected /file to keep mode 4755 and owner 1000:1000, and /bin/sh -> busybox\n{run}"
    );
    // The image's default command is /bin/sh.
    let default = rd.run(&["-i", "mini"]);
    default.assert_ok();
    rd.finish();
}

#[test]
fn import_gzipped_tarball_preserves_setuid_owner_and_symlink() {
    import_and_check(true);
}

#[test]
fn import_plain_tarball_preserves_setuid_owner_and_symlink() {
    import_and_check(false);
}

#[test]
fn imported_image_is_listed_with_the_builtin_busybox() {
    let rd = Rd::new();
    let images = rd.rd(&["images"]);
    images.assert_ok();
    assert!(
        images.stdout.contains("busybox"),
        "expected busybox in `rd images` of an empty store\n{images}"
    );
    rd.finish();
}

#[test]
fn import_zstd_tarball() {
    let rd = Rd::new();
    let src = rd.root().join("src");
    make_mini_rootfs(&src);
    let tar = rd.root().join("mini.tar");
    make_tarball(&src, &tar, false);
    let zst = rd.root().join("mini.tar.zst");
    let z = std::process::Command::new("zstd")
        .args(["-q", "-o"])
        .arg(&zst)
        .arg(&tar)
        .status()
        .expect("running zstd (scripts/setup.sh installs it)");
    assert!(z.success(), "zstd failed");
    rd.rd(&["import", &zst.to_string_lossy(), "mini:zst"])
        .assert_ok()
        .assert_no_panic();
    let run = rd.run(&["-i", "mini:zst", "--", "/bin/sh", "-c", "stat -c %a /file"]);
    run.assert_ok();
    assert_eq!(run.stdout_lines(), ["4755"], "{run}");
    rd.finish();
}

#[test]
fn rmi_refuses_an_image_a_running_container_uses_then_removes_it() {
    let rd = Rd::new();
    let src = rd.root().join("src");
    make_mini_rootfs(&src);
    let tarball = rd.root().join("mini.tar");
    make_tarball(&src, &tarball, false);
    rd.rd(&["import", &tarball.to_string_lossy(), "mini"])
        .assert_ok();
    let layers = rd.entries("layers");
    assert_eq!(layers.len(), 1, "mini's layer: {layers:?}");

    let mut running = rd.spawn(&["-i", "mini", "--", "/bin/sh", "-c", "echo up; read x; true"]);
    running.lines_until("up", std::time::Duration::from_secs(30));
    // Another name for the same layer goes without harming the container:
    // its layer stays, since mini still has it.
    rd.rd(&["import", &tarball.to_string_lossy(), "mini:other"])
        .assert_ok();
    let untag = rd.rd(&["rmi", "mini:other"]);
    untag.assert_ok();
    assert_eq!(
        rd.entries("layers"),
        layers,
        "rmi of a shared layer's other name deleted it\n{untag}"
    );

    let refused = rd.rd(&["rmi", "mini"]);
    refused
        .assert_rd_error()
        .assert_stderr_contains("in use by running container");
    assert_eq!(
        rd.entries("layers"),
        layers,
        "rmi refused, yet layers changed"
    );

    running.close_stdin();
    running.wait(std::time::Duration::from_secs(30)).assert_ok();
    let removed = rd.rd(&["rmi", "mini"]);
    removed.assert_ok();
    assert!(
        removed.stdout.contains("untagged mini:latest"),
        "expected rmi to say what it removed\n{removed}"
    );
    assert!(
        !rd.entries("layers").contains(&layers[0]),
        "mini's layer is still stored after rmi\n{removed}"
    );
    let gone = rd.run(&["-i", "mini", "--", "true"]);
    assert_ne!(gone.code, 0, "mini still runs after rmi\n{gone}");
    rd.finish();
}
