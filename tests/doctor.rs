//! `rd doctor` says what this host gives rd: checked against what the test
//! harness sees of the same host (on the host, and in each CI guest layout).

mod common;

use common::{cgroup_mode, CgroupMode, Rd};

#[test]
fn doctor_names_this_hosts_cgroup_layout_and_its_problems() {
    let rd = Rd::new();
    let out = rd.rd(&["doctor"]);
    let cgroups = out
        .stdout
        .lines()
        .find(|l| l.contains(" cgroups "))
        .unwrap_or_else(|| panic!("no cgroups line\n{out}"))
        .to_string();
    let want = match cgroup_mode() {
        CgroupMode::V2 => "v2",
        CgroupMode::V1
            if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() =>
        {
            "hybrid"
        }
        CgroupMode::V1 => "v1",
        CgroupMode::None => "no cgroup filesystem",
    };
    assert!(cgroups.contains(want), "expected {want}: {cgroups}\n{out}");
    let problems = out.stdout.lines().filter(|l| l.contains("PROBLEM")).count();
    assert_eq!(
        out.code,
        i32::from(problems > 0),
        "exit 1 exactly when a problem is listed\n{out}"
    );
    // Every problem comes with its fix.
    let lines: Vec<&str> = out.stdout.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("PROBLEM") {
            assert!(
                lines.get(i + 1).is_some_and(|n| n.contains("fix: ")),
                "{l}\n{out}"
            );
        }
    }

    // Without nft on PATH: bridge networking is said to fail, with the fix.
    let out = common::run_with_timeout(
        rd.command(&["doctor"]).env("PATH", "/usr/bin:/bin"),
        common::TIMEOUT,
    );
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("PROBLEM nftables"), "{out}");
    assert!(
        out.stdout.contains("fix: apt-get install nftables"),
        "{out}"
    );
    let summary = rd.rd(&["doctor", "--summary"]);
    assert_eq!(summary.stdout_lines().len(), 1, "{summary}");
    assert!(summary.stdout.starts_with("host: kernel "), "{summary}");
    rd.finish();
}
