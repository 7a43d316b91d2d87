//! Pure text helpers: everything the checker reads from the kernel or from a
//! level is parsed here, without panicking. A level under development is
//! adversarial input (garbage, half lines, binary noise): a parser that
//! cannot make sense of something returns None or skips the line, and the
//! criterion that needed it says FAIL with what it saw.

use std::collections::BTreeMap;

/// One line of /proc/<pid>/mountinfo, the fields the checker compares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mount {
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    /// The per-mount options (field 6): `rw,nosuid,nodev,...`.
    pub options: String,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses mountinfo (proc(5)): `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
/// Fields 1-6 are fixed, then optional fields up to a lone `-`, then the
/// filesystem type and the source. Paths escape space, tab, newline and
/// backslash as octal (`\040`), so that the line stays splittable.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount_point = fields.get(4)?;
            // The separator comes after the 6 fixed fields.
            let dash = fields.iter().skip(6).position(|f| *f == "-")? + 6;
            Some(Mount {
                mount_point: unescape_octal(mount_point),
                fstype: fields.get(dash + 1)?.to_string(),
                source: unescape_octal(fields.get(dash + 2).copied().unwrap_or("")),
                options: fields.get(5)?.to_string(),
            })
        })
        .collect()
}

/// `\040` → ' ' and friends: the kernel's escaping in mountinfo (and in
/// /proc/mounts). Anything that is not a 3-digit octal escape stays as it is.
pub fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The level's last words on stderr: `container <id> exited with status N`.
pub fn status_line(stderr: &str) -> Option<(String, i32)> {
    stderr.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("container ")?;
        let (id, rest) = rest.split_once(' ')?;
        let code = rest
            .strip_prefix("exited with status ")?
            .trim()
            .parse()
            .ok()?;
        Some((id.to_string(), code))
    })
}

/// Is this a container id as rd makes them: 12 lowercase hex digits?
pub fn is_container_id(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every maximal run of exactly 12 lowercase hex digits in `text`: the
/// container ids a level printed (status line, hostname, /proc/self/cgroup).
/// The checker uses them to tell its own containers' cgroups from others'.
pub fn container_ids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_digit() || ('a'..='f').contains(&c)))
        .filter(|t| is_container_id(t))
        .map(str::to_string)
        .collect()
}

/// The cgroup path of one hierarchy in /proc/<pid>/cgroup (cgroups(7)):
/// lines `hierarchy-ID:controller-list:path`. `Some("cpu")` finds the v1
/// hierarchy whose controller list holds cpu (e.g. `cpu,cpuacct`); `None`
/// finds the v2 line, `0::/path`.
pub fn cgroup_path(proc_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.trim().splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            Some(c) => controllers.split(',').any(|x| x == c),
            None => id == "0" && controllers.is_empty(),
        };
        matches.then(|| path.to_string())
    })
}

/// cgroup v2's cpu.weight for a v1 cpu.shares value: the conversion runc,
/// crun and the workshop use (shares 2..262144 onto weight 1..10000).
pub fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2)) * 9999 / 262_142
}

/// `0x1003` (as in /sys/class/net/<if>/flags) → 4099.
pub fn parse_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(digits, 16).ok()
}

/// The value of a top-level string field in JSON text, e.g.
/// `"target_directory":"/x/target"` from `cargo metadata`: enough JSON for
/// one field without a JSON dependency (escapes `\"`, `\\`, `\/` handled).
pub fn json_string_field(json: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":");
    let start = json.find(&key)? + key.len();
    let rest = json[start..].trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other), // \" \\ \/
            },
            c => out.push(c),
        }
    }
    None
}

/// Splits a probe's output into sections: a line `@name` starts section
/// `name`; lines before the first marker are dropped. Used by the probe that
/// re-checks earlier levels in one container.
pub fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('@') {
            let name = name.trim().to_string();
            map.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(name) = &current {
            map.entry(name.clone()).or_default().push(line.to_string());
        }
    }
    map
}

/// At most `max_lines` lines of `text`, each at most 160 characters, for
/// the report ("… (12 more lines)" when cut).
pub fn excerpt(text: &str, max_lines: usize) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut out: Vec<String> = lines
        .iter()
        .take(max_lines)
        .map(|l| {
            let clean: String = l
                .chars()
                .map(|c| match c {
                    '\t' => ' ',
                    c if c.is_control() => '?', // no terminal escapes from a level
                    c => c,
                })
                .collect();
            if clean.chars().count() > 160 {
                format!("{}…", clean.chars().take(160).collect::<String>())
            } else {
                clean
            }
        })
        .collect();
    if lines.len() > max_lines {
        out.push(format!("… ({} more lines)", lines.len() - max_lines));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_optional_fields_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    garbage line\n\
                    1 2 3\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(
            mounts,
            vec![
                Mount {
                    mount_point: "/mnt/my disk".into(),
                    fstype: "ext3".into(),
                    source: "/dev/root".into(),
                    options: "rw,noatime".into(),
                },
                Mount {
                    mount_point: "/".into(),
                    fstype: "ext4".into(),
                    source: "/dev/vda".into(),
                    options: "rw,relatime".into(),
                },
            ]
        );
    }

    #[test]
    fn unescape_leaves_non_escapes_alone() {
        assert_eq!(unescape_octal("a\\134b\\011c"), "a\\b\tc");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_octal("\\999"), "\\999");
        assert_eq!(unescape_octal("\\"), "\\");
    }

    #[test]
    fn status_line_and_ids() {
        let stderr =
            "extracting image busybox into /x\ncontainer 0123456789ab exited with status 137\n";
        assert_eq!(status_line(stderr), Some(("0123456789ab".into(), 137)));
        assert_eq!(status_line("container x exited with status nope"), None);
        assert_eq!(status_line(""), None);
        assert_eq!(
            container_ids("4:memory:/rd-83b95584f332\nhost 0123456789abc no 0123456789ab"),
            vec!["83b95584f332", "0123456789ab"]
        );
    }

    #[test]
    fn proc_cgroup_v1_and_v2() {
        let text = "4:memory:/rd-83b95584f332\n2:cpuacct:/\n1:cpu,cpuacct:/rd-83b95584f332\n0::/user.slice\n";
        assert_eq!(
            cgroup_path(text, Some("cpu")).as_deref(),
            Some("/rd-83b95584f332")
        );
        assert_eq!(
            cgroup_path(text, Some("memory")).as_deref(),
            Some("/rd-83b95584f332")
        );
        assert_eq!(cgroup_path(text, None).as_deref(), Some("/user.slice"));
        assert_eq!(cgroup_path("nonsense", Some("cpu")), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(cpu_weight(512), 20);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(parse_hex("0x9\n"), Some(9));
        assert_eq!(parse_hex("zz"), None);
    }

    #[test]
    fn json_field() {
        let json = r#"{"packages":[],"target_directory":"/work/a \"b\"\\target","version":1}"#;
        assert_eq!(
            json_string_field(json, "target_directory").as_deref(),
            Some("/work/a \"b\"\\target")
        );
        assert_eq!(json_string_field(json, "missing"), None);
        assert_eq!(
            json_string_field(r#"{"target_directory":"unterminated"#, "target_directory"),
            None
        );
    }

    #[test]
    fn sections_and_excerpt() {
        let s = sections("noise\n@os\nNAME=x\n@pid\n1\n@empty\n");
        assert_eq!(s["os"], vec!["NAME=x"]);
        assert_eq!(s["pid"], vec!["1"]);
        assert!(s["empty"].is_empty());
        assert_eq!(
            excerpt("a\n\nb\nc\n", 2),
            vec!["a", "b", "… (1 more lines)"]
        );
        assert_eq!(excerpt("x\u{1b}[1m\tb", 1), vec!["x?[1m b"]);
    }
}
