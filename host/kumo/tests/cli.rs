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
    assert!(
        stdout.contains("ok (3 clients; policy modules: accept-all)"),
        "{stdout}"
    );
}

#[test]
fn check_accepts_the_example_ix_with_the_standard_policy() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/ix.toml");
    let (ok, stdout, stderr) = check(&example);
    assert!(ok, "stderr: {stderr}");
    assert!(
        stdout.contains("ok (3 clients; policy modules: rs-standard)"),
        "{stdout}"
    );
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

const SERVER: &str = "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = [\"127.0.0.1:1179\"]\n";

#[test]
fn check_compiles_policies_and_names_bad_ones() {
    let dir = write_config("policies-ok", "").parent().unwrap().to_owned();
    let good = format!(
        "{SERVER}\n[policies.strict]\nbuiltin = \"rs-import\"\nconfig = {{ max_path_length = 24 }}\n\n\
         [[clients]]\nname = \"a\"\nasn = 65002\nip = [\"127.0.0.2\"]\nimport = [\"strict\"]\nexport = [\"accept-all\"]\n"
    );
    let (ok, stdout, stderr) = check(&write_config("policies-ok", &good));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("policy modules: accept-all, strict"), "{stdout}");

    std::fs::write(dir.join("junk.wasm"), b"\0asm junk").unwrap();
    let cases = [
        ("unknown-chain", "", "import = [\"nope\"]", "clients[0].import[0]"),
        (
            "bad-wasm",
            "[policies.junk]\npath = \"junk.wasm\"\n",
            "import = [\"junk\"]",
            "policies.junk",
        ),
        (
            "no-file",
            "[policies.gone]\npath = \"gone.wasm\"\n",
            "import = [\"gone\"]",
            "policies.gone.path",
        ),
        (
            "bad-config",
            "[policies.strict]\nbuiltin = \"rs-import\"\nconfig = { colour = 1 }\n",
            "import = [\"strict\"]",
            "policies.strict: configuration refused",
        ),
        (
            "not-builtin",
            "[policies.x]\nbuiltin = \"nope\"\n",
            "import = [\"x\"]",
            "policies.x.builtin",
        ),
    ];
    for (name, policies, chain, key) in cases {
        let text = format!(
            "{SERVER}\n{policies}\n[[clients]]\nname = \"a\"\nasn = 65002\nip = [\"127.0.0.2\"]\n{chain}\n"
        );
        let path = write_config(name, &text);
        if name == "bad-wasm" {
            std::fs::write(path.parent().unwrap().join("junk.wasm"), b"\0asm junk").unwrap();
        }
        let (ok, _, stderr) = check(&path);
        assert!(!ok, "{name}: a bad config passed the check");
        assert!(stderr.contains(key), "{name}: {key:?} not in {stderr}");
    }
}

#[test]
fn policy_test_prints_verdicts_and_fails_on_traps() {
    let dir = write_config("policy-test", "").parent().unwrap().to_owned();
    let routes = dir.join("routes.json");
    std::fs::write(
        &routes,
        r#"[
  {"prefix": "193.0.0.0/21", "as_path": [3333], "next_hop": "192.0.2.2"},
  {"prefix": "193.0.0.0/21", "as_path": [3333], "next_hop": "192.0.2.99"},
  {"prefix": "193.0.10.0/23", "as_path": [3333, 3333, 3333], "next_hop": "192.0.2.2",
   "communities": ["3333:1"], "large_communities": ["3333:0:1"]}
]"#,
    )
    .unwrap();
    let run = |module: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args(["policy", "test", module, "--routes"])
            .arg(&routes)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // rs-import: the client (made up from the first route) is AS3333 at
    // 192.0.2.2, so the second route's NEXT_HOP is not the client's (code 5).
    let (code, stdout, stderr) = run("rs-import");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("193.0.0.0/21  accept")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("193.0.0.0/21  reject code=5")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("193.0.10.0/23  accept")),
        "{stdout}"
    );

    let (code, _, stderr) = run("no-such-module");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not built in"), "{stderr}");

    // A trapping module: the verdicts still print, and the exit code says it failed.
    let hostile = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm/wasm32-wasip2/release/kumo_policy_hostile.wasm");
    let config = write_config(
        "policy-test-trap",
        &format!(
            "{SERVER}\n[policies.boom]\npath = \"{}\"\nconfig = {{ mode = \"panic\" }}\n",
            hostile.display()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["policy", "test", "boom", "--routes"])
        .arg(&routes)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("reject code=65534 \"policy error\""), "{stdout}");
    assert!(stdout.contains("traps 3"), "{stdout}");
}

/// `kumo policy test --config examples/ix.toml`: the example's IRR files answer rs-standard's IRR
/// step (AS-RIPENCC, nested AS-RIPENCC-SERVICES, route objects with more-specifics up to /24).
#[test]
fn policy_test_uses_the_configs_irr_data() {
    let dir = write_config("policy-test-irr", "").parent().unwrap().to_owned();
    let routes = dir.join("routes.json");
    std::fs::write(
        &routes,
        r#"[
  {"prefix": "193.0.0.0/21", "as_path": [3333], "next_hop": "127.0.0.2"},
  {"prefix": "193.0.4.0/24", "as_path": [3333], "next_hop": "127.0.0.2"},
  {"prefix": "84.205.64.0/24", "as_path": [3333, 12654], "next_hop": "127.0.0.2"},
  {"prefix": "193.0.8.0/24", "as_path": [3333], "next_hop": "127.0.0.2"},
  {"prefix": "193.0.0.0/21", "as_path": [3333, 13335], "next_hop": "127.0.0.2"}
]"#,
    )
    .unwrap();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/ix.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["policy", "test", "rs-standard", "--client", "as3333", "--config"])
        .arg(&example)
        .arg("--routes")
        .arg(&routes)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(|_| l))
        .filter(|l| l.contains(" accept") || l.contains(" reject"))
        .collect();
    let expect = [
        "193.0.0.0/21  accept",
        "193.0.4.0/24  accept",
        "84.205.64.0/24  accept",
        "193.0.8.0/24  reject code=12",
        "193.0.0.0/21  reject code=9",
    ];
    assert_eq!(verdicts.len(), expect.len(), "{stdout}");
    for (line, want) in verdicts.iter().zip(expect) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}\n{stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
