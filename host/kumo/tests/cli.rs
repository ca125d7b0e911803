//! The command line: `kumo check` reports precise errors and exits non-zero.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kumo-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kumo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(path: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["check", "-c"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_accepts_the_example_config() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kumo.toml");
    let (ok, stdout, stderr) = check(&example);
    assert!(ok, "stderr: {stderr}");
    assert!(stdout.contains("ok (3 clients)"), "{stdout}");
}

#[test]
fn check_names_the_key_path_of_each_problem() {
    let cases = [
        (
            "bad-action",
            "max_prefix = { ipv4 = 10, action = \"reboot\" }",
            "clients[0].max_prefix.action",
        ),
        ("unknown-key", "colour = \"blue\"", "clients[0].colour"),
        ("bad-ip", "", "clients[1].ip[0]"),
        ("same-asn", "", "clients[1].asn"),
    ];
    for (name, extra, key) in cases {
        let second = match name {
            "bad-ip" => "[[clients]]\nname = \"b\"\nasn = 65003\nip = [\"not-an-ip\"]\n",
            "same-asn" => "[[clients]]\nname = \"b\"\nasn = 64500\nip = [\"127.0.0.3\"]\n",
            _ => "",
        };
        let text = format!(
            "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.0.1:1179\"]\n\n\
             [[clients]]\nname = \"a\"\nasn = 65002\nip = [\"127.0.0.2\"]\n{extra}\n{second}"
        );
        let path = write_config(name, &text);
        let (ok, _, stderr) = check(&path);
        assert!(!ok, "{name}: a bad config passed the check");
        assert!(
            stderr.contains(key),
            "{name}: the error does not name {key}: {stderr}"
        );
        assert!(
            stderr.contains("kumo.toml"),
            "{name}: the error does not name the file: {stderr}"
        );
    }
}

#[test]
fn check_reports_a_missing_file() {
    let (ok, _, stderr) = check(std::path::Path::new("/nonexistent/kumo.toml"));
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/kumo.toml"), "{stderr}");
}
