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
