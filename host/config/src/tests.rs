//! Parsing end to end: good files give the expected values, bad files give a problem naming the
//! exact key path.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;
use std::path::Path;

const MINIMAL: &str = r#"
[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["127.0.0.1:1179"]

[[clients]]
name = "as65002"
asn = 65002
ip = ["127.0.0.2"]
"#;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The problems of a configuration that must fail.
fn problems(text: &str) -> Vec<Problem> {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:#?}"),
        Err(error) => {
            assert!(!error.problems().is_empty(), "Invalid without problems");
            error.problems().to_vec()
        }
    }
}

/// Asserts the configuration fails with exactly one problem, at `path`, whose message contains
/// `needle`; returns the problem for further checks.
fn fails_at(text: &str, path: &str, needle: &str) -> Problem {
    let problems = problems(text);
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    let problem = problems.into_iter().next().unwrap();
    assert_eq!(
        problem.path.as_ref().map(ToString::to_string).as_deref(),
        Some(path),
        "wrong path in {problem}"
    );
    assert!(
        problem.message.contains(needle),
        "message of {problem} lacks {needle:?}"
    );
    // The rendered line the operator reads starts with the path (after line:column).
    assert!(
        problem.to_string().contains(&format!("{path}: ")),
        "rendered {problem} lacks the path"
    );
    problem
}

/// MINIMAL with `extra` appended to the first client's table.
fn with_client_keys(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

/// A server section followed by `clients`.
fn with_server(clients: &str) -> String {
    format!("[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\n\n{clients}")
}

#[test]
fn minimal_example_parses_to_expected_values() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.asn, 64500);
    assert_eq!(config.server.router_id, Ipv4Addr::new(192, 0, 2, 254));
    assert_eq!(
        config.server.listen,
        vec!["127.0.0.1:1179".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(config.clients.len(), 1);
    let client = &config.clients[0];
    assert_eq!(client.name, "as65002");
    assert_eq!(client.asn, 65002);
    assert_eq!(client.ip, vec![ip("127.0.0.2")]);
    assert_eq!(
        config.client_by_ip(ip("127.0.0.2")).map(|c| c.name.as_str()),
        Some("as65002")
    );
}

#[test]
fn every_default() {
    let config = parse(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\n\n\
         [[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n\
         max_prefix = { ipv4 = 10 }\n",
    )
    .unwrap();
    let server = &config.server;
    assert_eq!(
        server.listen,
        vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 179),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 179),
        ]
    );
    assert_eq!(server.hold_time, 90);
    assert_eq!(Server::keepalive_time(server.hold_time), 30);
    assert_eq!(server.connect_retry, 5);
    assert!(server.graceful_restart);
    assert_eq!(server.restart_time, 120);
    assert_eq!(
        *server,
        Server::new(64500, Ipv4Addr::new(192, 0, 2, 254)),
        "Server::new must use the serde defaults"
    );

    let client = &config.clients[0];
    assert_eq!(client.description, None);
    assert!(client.passive);
    assert_eq!(client.port, 179);
    assert_eq!(client.hold_time, None);
    assert_eq!(client.effective_hold_time(server), 90);
    assert_eq!(client.add_path, AddPath::Off);
    assert!(client.ipv4 && client.ipv6);
    assert_eq!(client.password, None);
    assert_eq!(client.graceful_restart, None);
    assert!(client.effective_graceful_restart(server));
    assert_eq!(client.import, vec!["accept-all".to_owned()]);
    assert_eq!(client.export, vec!["accept-all".to_owned()]);
    assert!(client.test_export_deny_from.is_empty());

    let max_prefix = client.max_prefix.as_ref().unwrap();
    assert_eq!(max_prefix.ipv6, None);
    assert_eq!(max_prefix.action, MaxPrefixAction::Shutdown);
    assert_eq!(max_prefix.restart_after, 60);
    assert_eq!(client.max_prefix_for(Afi::Ipv4), Some(10));
    assert_eq!(client.max_prefix_for(Afi::Ipv6), None);

    let mut built = Client::new("a", 65001, vec![ip("192.0.2.1")]);
    built.max_prefix = client.max_prefix.clone();
    assert_eq!(*client, built, "Client::new must use the serde defaults");
}

#[test]
fn every_field_set() {
    let config = parse(&with_server(
        r#"
[[clients]]
name = "as65002"
asn = 65002
ip = ["192.0.2.2", "2001:db8::2"]
description = "Example Networks"
passive = false
port = 1179
hold_time = 0
max_prefix = { ipv4 = 100, ipv6 = 50, action = "restart", restart_after = 300 }
add_path = "both"
ipv4 = false
ipv6 = true
graceful_restart = false
import = ["bogons", "irr"]
export = ["rs-communities"]
test_export_deny_from = ["as65003"]

[[clients]]
name = "as65003"
asn = 4200000000
ip = ["192.0.2.3"]
add_path = "send"
"#,
    ))
    .unwrap();
    let client = &config.clients[0];
    assert_eq!(client.ip, vec![ip("192.0.2.2"), ip("2001:db8::2")]);
    assert_eq!(client.description.as_deref(), Some("Example Networks"));
    assert!(!client.passive);
    assert_eq!(client.port, 1179);
    assert_eq!(client.effective_hold_time(&config.server), 0);
    assert_eq!(client.max_prefix_for(Afi::Ipv4), Some(100));
    assert_eq!(client.max_prefix_for(Afi::Ipv6), Some(50));
    let max_prefix = client.max_prefix.as_ref().unwrap();
    assert_eq!(max_prefix.action, MaxPrefixAction::Restart);
    assert_eq!(max_prefix.restart_after, 300);
    assert_eq!(client.add_path, AddPath::Both);
    assert!(client.add_path.sends() && client.add_path.receives());
    assert!(!client.offers(Afi::Ipv4) && client.offers(Afi::Ipv6));
    assert!(!client.effective_graceful_restart(&config.server));
    assert_eq!(client.import, vec!["bogons".to_owned(), "irr".to_owned()]);
    assert_eq!(client.export, vec!["rs-communities".to_owned()]);
    assert_eq!(client.test_export_deny_from, vec!["as65003".to_owned()]);
    let other = &config.clients[1];
    assert_eq!(other.asn, 4_200_000_000);
    assert!(other.add_path.sends() && !other.add_path.receives());
}

#[test]
fn listen_accepts_bare_ip_ip_port_and_bracketed_v6() {
    let config = parse(
        "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\n\
         listen = [\"192.0.2.254\", \"127.0.0.1:1179\", \"[::1]:1179\", \"2001:db8::1\"]\n",
    )
    .unwrap();
    let listen: Vec<String> = config.server.listen.iter().map(ToString::to_string).collect();
    assert_eq!(
        listen,
        [
            "192.0.2.254:179",
            "127.0.0.1:1179",
            "[::1]:1179",
            "[2001:db8::1]:179"
        ]
    );
    assert!(config.clients.is_empty());
}

#[test]
fn client_by_ip_matches_every_address_and_v4_mapped_v6() {
    let config = parse(&with_server(
        "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\", \"2001:db8::1\"]\n\
         [[clients]]\nname = \"b\"\nasn = 65002\nip = [\"192.0.2.2\"]\n",
    ))
    .unwrap();
    let name = |text: &str| config.client_by_ip(ip(text)).map(|c| c.name.clone());
    assert_eq!(name("192.0.2.1").as_deref(), Some("a"));
    assert_eq!(name("2001:db8::1").as_deref(), Some("a"));
    assert_eq!(name("192.0.2.2").as_deref(), Some("b"));
    assert_eq!(name("::ffff:192.0.2.2").as_deref(), Some("b"));
    assert_eq!(name("192.0.2.3"), None);
    assert_eq!(config.client_by_name("b").map(|c| c.asn), Some(65002));
    assert!(config.client_by_name("c").is_none());
}

// ---- bad configurations: each names the exact key path ----

#[test]
fn unknown_key_at_top_level() {
    fails_at(
        &format!("colour = \"blue\"\n{MINIMAL}"),
        "colour",
        "unknown field \"colour\"",
    );
}

#[test]
fn unknown_key_in_server() {
    let text = MINIMAL.replace("[server]\n", "[server]\nhodl_time = 90\n");
    let problem = fails_at(&text, "server.hodl_time", "unknown field \"hodl_time\"");
    // The message lists what is allowed, so the typo is easy to fix.
    assert!(problem.message.contains("\"hold_time\""), "{problem}");
    assert_eq!(problem.location, Some(Location { line: 3, column: 1 }));
}

#[test]
fn unknown_key_in_second_client() {
    let text = with_server(
        "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n\n\
         [[clients]]\nname = \"b\"\nasn = 65002\nip = [\"192.0.2.2\"]\npasive = false\n",
    );
    let problem = fails_at(&text, "clients[1].pasive", "unknown field \"pasive\"");
    assert_eq!(problem.location, Some(Location { line: 14, column: 1 }));
}

#[test]
fn unknown_key_in_max_prefix() {
    fails_at(
        &with_client_keys("max_prefix = { ipv4 = 10, limit = 5 }"),
        "clients[0].max_prefix.limit",
        "unknown field \"limit\"",
    );
}

#[test]
fn wrong_type() {
    let text = MINIMAL.replace("asn = 65002", "asn = \"65002\"");
    fails_at(&text, "clients[0].asn", "invalid type: string \"65002\"");
}

#[test]
fn number_out_of_range() {
    fails_at(
        &with_client_keys("port = 70000"),
        "clients[0].port",
        "invalid value: integer 70000, expected an integer from 0 to 65535",
    );
}

#[test]
fn clients_written_as_a_single_table() {
    let text = MINIMAL.replace("[[clients]]", "[clients]");
    fails_at(&text, "clients", "write each client as a [[clients]] table");
}

#[test]
fn bad_client_ip() {
    let text = MINIMAL.replace("[\"127.0.0.2\"]", "[\"127.0.0.2\", \"127.0.0.300\"]");
    let problem = fails_at(&text, "clients[0].ip[1]", "invalid IP address \"127.0.0.300\"");
    assert_eq!(problem.location, Some(Location { line: 10, column: 20 }));
}

#[test]
fn bad_router_id() {
    let text = MINIMAL.replace("\"192.0.2.254\"", "\"2001:db8::1\"");
    fails_at(&text, "server.router_id", "invalid IPv4 address \"2001:db8::1\"");
    let text = MINIMAL.replace("\"192.0.2.254\"", "\"0.0.0.0\"");
    fails_at(&text, "server.router_id", "must not be 0.0.0.0");
}

#[test]
fn bad_listen_address() {
    let text = MINIMAL.replace("[\"127.0.0.1:1179\"]", "[\"127.0.0.1:1179\", \"localhost:1179\"]");
    let problem = fails_at(
        &text,
        "server.listen[1]",
        "invalid listen address \"localhost:1179\"",
    );
    assert_eq!(problem.location, Some(Location { line: 5, column: 29 }));
    // A wrong type inside the array is named by index too.
    let text = MINIMAL.replace("[\"127.0.0.1:1179\"]", "[\"127.0.0.1:1179\", 1179]");
    fails_at(&text, "server.listen[1]", "invalid type: integer");
}

#[test]
fn duplicate_listen_address() {
    let text = MINIMAL.replace("[\"127.0.0.1:1179\"]", "[\"127.0.0.1:179\", \"127.0.0.1\"]");
    fails_at(&text, "server.listen[1]", "also server.listen[0]");
}

#[test]
fn duplicate_client_name() {
    let text = with_server(
        "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n\n\
         [[clients]]\nname = \"a\"\nasn = 65002\nip = [\"192.0.2.2\"]\n",
    );
    let problem = fails_at(&text, "clients[1].name", "duplicate client name \"a\"");
    assert!(problem.message.contains("also clients[0].name"), "{problem}");
    assert_eq!(problem.location, Some(Location { line: 11, column: 8 }));
}

#[test]
fn duplicate_ip_across_clients() {
    let text = with_server(
        "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n\n\
         [[clients]]\nname = \"b\"\nasn = 65002\nip = [\"2001:db8::2\", \"::ffff:192.0.2.1\"]\n",
    );
    let problem = fails_at(&text, "clients[1].ip[1]", "duplicate address");
    assert!(problem.message.contains("also clients[0].ip[0]"), "{problem}");
}

#[test]
fn asn_zero_and_as_trans() {
    let text = MINIMAL.replace("asn = 64500", "asn = 0");
    fails_at(&text, "server.asn", "must not be 0");
    let text = MINIMAL.replace("asn = 65002", "asn = 23456");
    fails_at(&text, "clients[0].asn", "AS_TRANS");
}

#[test]
fn client_asn_equals_server_asn() {
    let text = MINIMAL.replace("asn = 65002", "asn = 64500");
    fails_at(&text, "clients[0].asn", "eBGP only");
}

#[test]
fn hold_time_one_or_two() {
    let text = MINIMAL.replace("[server]\n", "[server]\nhold_time = 1\n");
    let problem = fails_at(&text, "server.hold_time", "must be 0 or at least 3");
    assert_eq!(problem.location, Some(Location { line: 3, column: 13 }));
    fails_at(
        &with_client_keys("hold_time = 2"),
        "clients[0].hold_time",
        "must be 0 or at least 3",
    );
    // The boundaries are allowed.
    parse(&with_client_keys("hold_time = 0")).unwrap();
    parse(&with_client_keys("hold_time = 3")).unwrap();
}

#[test]
fn bad_max_prefix_action() {
    let text = with_server(
        "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n\
         [[clients]]\nname = \"b\"\nasn = 65002\nip = [\"192.0.2.2\"]\n\
         [[clients]]\nname = \"c\"\nasn = 65003\nip = [\"192.0.2.3\"]\n\
         max_prefix = { ipv4 = 10, action = \"reboot\" }\n",
    );
    let problem = fails_at(
        &text,
        "clients[2].max_prefix.action",
        "unknown variant \"reboot\", expected one of \"shutdown\", \"restart\", \"warn\"",
    );
    assert_eq!(problem.location.map(|l| l.line), Some(17));
}

#[test]
fn max_prefix_without_limit_or_with_zero_restart() {
    fails_at(
        &with_client_keys("max_prefix = { action = \"warn\" }"),
        "clients[0].max_prefix",
        "sets no limit",
    );
    fails_at(
        &with_client_keys("max_prefix = { ipv6 = 5, action = \"restart\", restart_after = 0 }"),
        "clients[0].max_prefix.restart_after",
        "at least 1 second",
    );
}

#[test]
fn bad_add_path() {
    fails_at(
        &with_client_keys("add_path = \"yes\""),
        "clients[0].add_path",
        "expected one of \"off\", \"send\", \"receive\", \"both\"",
    );
}

#[test]
fn password_is_refused() {
    fails_at(
        &with_client_keys("password = \"s3cret\""),
        "clients[0].password",
        "TCP-MD5",
    );
}

#[test]
fn test_export_deny_from_unknown_or_self() {
    fails_at(
        &with_client_keys("test_export_deny_from = [\"as65099\"]"),
        "clients[0].test_export_deny_from[0]",
        "no client is named \"as65099\"",
    );
    fails_at(
        &with_client_keys("test_export_deny_from = [\"as65002\"]"),
        "clients[0].test_export_deny_from[0]",
        "this client itself",
    );
}

#[test]
fn empty_ip_list() {
    let text = MINIMAL.replace("[\"127.0.0.2\"]", "[]");
    fails_at(&text, "clients[0].ip", "at least one address");
}

#[test]
fn non_unicast_client_ip() {
    let text = MINIMAL.replace("\"127.0.0.2\"", "\"224.0.0.1\"");
    fails_at(&text, "clients[0].ip[0]", "not a unicast address");
}

#[test]
fn missing_server_section() {
    let text = "[[clients]]\nname = \"a\"\nasn = 65001\nip = [\"192.0.2.1\"]\n";
    let problem = fails_at(text, "server", "required key is missing");
    assert_eq!(problem.location, None);
}

#[test]
fn missing_asn() {
    let text = MINIMAL.replace("asn = 64500\n", "");
    let problem = fails_at(&text, "server.asn", "required key is missing");
    // Points at the [server] table the key belongs in.
    assert_eq!(problem.location.map(|l| l.line), Some(2));
    let text = MINIMAL.replace("asn = 65002\n", "");
    fails_at(&text, "clients[0].asn", "required key is missing");
}

#[test]
fn bad_client_names() {
    fails_at(
        &MINIMAL.replace("\"as65002\"", "\"\""),
        "clients[0].name",
        "must not be empty",
    );
    fails_at(
        &MINIMAL.replace("\"as65002\"", "\"as 65002\""),
        "clients[0].name",
        "contains ' '",
    );
}

#[test]
fn empty_policy_name() {
    fails_at(
        &with_client_keys("import = [\"bogons\", \" \"]"),
        "clients[0].import[1]",
        "must not be empty",
    );
}

#[test]
fn no_address_family() {
    fails_at(
        &with_client_keys("ipv4 = false\nipv6 = false"),
        "clients[0].ipv6",
        "no address family",
    );
}

#[test]
fn active_client_needs_a_port() {
    fails_at(
        &with_client_keys("passive = false\nport = 0"),
        "clients[0].port",
        "passive = false",
    );
    // A passive client never uses the port.
    parse(&with_client_keys("port = 0")).unwrap();
}

#[test]
fn restart_time_fits_the_capability() {
    let text = MINIMAL.replace("[server]\n", "[server]\nrestart_time = 4096\n");
    fails_at(&text, "server.restart_time", "at most 4095");
    parse(&MINIMAL.replace("[server]\n", "[server]\nrestart_time = 4095\n")).unwrap();
}

#[test]
fn empty_listen_with_passive_client() {
    let text = MINIMAL.replace("[\"127.0.0.1:1179\"]", "[]");
    fails_at(&text, "server.listen", "could never connect");
    let active = with_client_keys("passive = false").replace("[\"127.0.0.1:1179\"]", "[]");
    parse(&active).unwrap();
}

#[test]
fn toml_syntax_error_has_location_but_no_path() {
    let problems = problems("[server]\nasn = 64500\nrouter_id = 192.0.2.254\n");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, None);
    assert_eq!(problems[0].location.map(|l| l.line), Some(3));
    assert!(
        problems[0].to_string().contains("TOML syntax error"),
        "{}",
        problems[0]
    );
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let problems = problems(&MINIMAL.replace("asn = 65002", "asn = 65002\nasn = 65003"));
    assert_eq!(problems[0].path, None);
    // Line 10 is the second `asn`.
    assert_eq!(problems[0].location.map(|l| l.line), Some(10));
}

#[test]
fn validation_reports_every_problem_at_once() {
    let text = with_server(
        "[[clients]]\nname = \"a\"\nasn = 0\nip = []\npassword = \"x\"\n\n\
         [[clients]]\nname = \"a\"\nasn = 64500\nip = [\"192.0.2.2\"]\nhold_time = 1\n",
    )
    .replace("asn = 64500\nrouter_id", "asn = 64500\nhold_time = 2\nrouter_id");
    let paths: Vec<String> = problems(&text)
        .iter()
        .map(|p| p.path.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "server.hold_time",
            "clients[0].asn",
            "clients[0].ip",
            "clients[0].password",
            "clients[1].name",
            "clients[1].asn",
            "clients[1].hold_time",
        ]
    );
}

// ---- files ----

#[test]
fn load_names_the_file_in_errors() {
    let dir = std::env::temp_dir().join(format!("kumo-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, MINIMAL.replace("asn = 64500", "asn = 0")).unwrap();
    let message = load(&file).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:3:7: server.asn: must not be 0 (reserved, RFC 7607)",
            file.display()
        )
    );

    let missing = dir.join("missing.toml");
    let error = load(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error.to_string().starts_with(&missing.display().to_string()),
        "{error}"
    );

    std::fs::write(&file, MINIMAL).unwrap();
    let loaded = load(&file).unwrap();
    assert_eq!(
        loaded.base_dir.as_deref(),
        Some(dir.as_path()),
        "relative paths resolve against the file's directory"
    );
    assert_eq!(loaded.resolve(Path::new("p.wasm")), dir.join("p.wasm"));
    assert_eq!(loaded.resolve(Path::new("/abs/p.wasm")), Path::new("/abs/p.wasm"));
    assert_eq!(
        Config {
            base_dir: None,
            ..loaded
        },
        parse(MINIMAL).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn workspace_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

#[test]
fn example_ix_config_parses() {
    let config = load(&workspace_file("examples/kumo.toml")).unwrap();
    let addresses: Vec<IpAddr> = config.clients.iter().flat_map(|c| c.ip.clone()).collect();
    assert_eq!(addresses, [ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4")]);
    assert!(config.server.listen.iter().all(|addr| addr.port() == 1179));
}

/// Every TOML example in the operator's documentation is valid TOML, and every example that
/// has a `[server]` table is a valid configuration.
#[test]
fn documentation_examples_are_valid() {
    let doc = std::fs::read_to_string(workspace_file("docs/configuration.md")).unwrap();
    let mut blocks = 0;
    let mut complete = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").unwrap();
        let block = &body[..end];
        rest = &body[end + 3..];
        blocks += 1;
        if let Err(error) = DeTable::parse(block) {
            panic!("docs block {blocks} is not TOML: {}\n{block}", error.message());
        }
        if block.contains("[server]") {
            complete += 1;
            if let Err(error) = parse(block) {
                panic!("docs block {blocks} is not a valid configuration:\n{error}\n{block}");
            }
        }
    }
    assert!(
        blocks >= 7,
        "only {blocks} TOML examples in docs/configuration.md"
    );
    assert!(
        complete >= 4,
        "only {complete} complete examples in docs/configuration.md"
    );
}

/// No input panics: every prefix of a real file (cut mid-key, mid-string, mid-table) either
/// parses or yields at least one problem, each with a location inside the text when it has one.
#[test]
fn truncated_files_never_panic() {
    let text = std::fs::read_to_string(workspace_file("examples/kumo.toml")).unwrap();
    let lines = text.lines().count() + 1;
    let mut failures = 0;
    for end in (0..=text.len()).filter(|&end| text.is_char_boundary(end)) {
        if let Err(error) = parse(&text[..end]) {
            failures += 1;
            assert!(
                !error.problems().is_empty(),
                "no problem for a prefix of {end} bytes"
            );
            for problem in error.problems() {
                if let Some(location) = problem.location {
                    assert!(location.line <= lines, "{problem} is past the end");
                }
            }
        }
    }
    // Most cuts are invalid (e.g. before `[server]` is complete); the full file is not.
    assert!(failures > text.len() / 2, "only {failures} failures");
    assert!(parse(&text).is_ok());
}

#[test]
fn policies_admin_and_client_params_parse() {
    let text = format!(
        "{MINIMAL}params = {{ as_set = \"AS-EXAMPLE\", max_path_len = 32 }}\n\n\
         [policies.no-private]\npath = \"policies/no_private.wasm\"\nmax_memory = 1048576\ndeadline_ms = 2\n\
         config = {{ tag = [65000, 1] }}\n\n[admin]\nlisten = \"127.0.0.1:9179\"\ntoken = \"secret\"\n"
    );
    let config = parse(&text).unwrap();
    let policy = &config.policies["no-private"];
    assert_eq!(
        policy.path,
        Some(std::path::PathBuf::from("policies/no_private.wasm"))
    );
    assert_eq!(
        (policy.max_memory, policy.deadline_ms),
        (Some(1_048_576), Some(2))
    );
    assert!(policy.config.contains_key("tag"));
    assert_eq!(config.clients[0].params["as_set"].as_str(), Some("AS-EXAMPLE"));
    let admin = config.admin.unwrap();
    assert_eq!(admin.listen, "127.0.0.1:9179".parse().unwrap());
    assert_eq!(admin.token.as_deref(), Some("secret"));
    // Defaults: no admin section, admin on loopback 8179.
    assert!(parse(MINIMAL).unwrap().admin.is_none());
    let admin = parse(&format!("{MINIMAL}\n[admin]\n")).unwrap().admin.unwrap();
    assert_eq!(admin.listen, "127.0.0.1:8179".parse().unwrap());
}

#[test]
fn unknown_keys_in_policies_and_admin_name_their_path() {
    fails_at(
        &format!("{MINIMAL}\n[policies.x]\npath = \"x.wasm\"\nmax_mem = 1\n"),
        "policies.x.max_mem",
        "unknown",
    );
    fails_at(
        &format!("{MINIMAL}\n[admin]\nport = 1\n"),
        "admin.port",
        "unknown",
    );
    fails_at(
        &format!("{MINIMAL}\n[policies.x]\npath = \"x.wasm\"\nbuiltin = \"rs-import\"\n"),
        "policies.x.builtin",
        "not both",
    );
    fails_at(
        &format!("{MINIMAL}\n[policies.x]\npath = \"x.wasm\"\ndeadline_ms = 0\n"),
        "policies.x.deadline_ms",
        "at least 1",
    );
}

#[test]
fn irr_and_rpki_sections() {
    let config = parse(&format!(
        "{MINIMAL}\n[irr]\nfiles = [\"irr/ix.rpsl\", \"/srv/as-foo.json\"]\n\n[rpki]\ncache = \"127.0.0.1:3323\"\nstale = \"discard\"\n"
    ))
    .unwrap();
    let irr = config.irr.as_ref().unwrap();
    assert_eq!(irr.files.len(), 2);
    let rpki = config.rpki.as_ref().unwrap();
    assert_eq!(
        (
            rpki.cache.as_str(),
            rpki.stale,
            rpki.version,
            rpki.retry,
            rpki.retry_max
        ),
        ("127.0.0.1:3323", RpkiStale::Discard, 1, 1, 60)
    );
    assert!(parse(MINIMAL).unwrap().rpki.is_none());

    fails_at(
        &format!("{MINIMAL}\n[irr]\nfiles = []\n"),
        "irr.files",
        "is empty",
    );
    fails_at(
        &format!("{MINIMAL}\n[rpki]\ncache = \"127.0.0.1\"\n"),
        "rpki.cache",
        "host:port",
    );
    fails_at(
        &format!("{MINIMAL}\n[rpki]\ncache = \"rtr.example:0\"\n"),
        "rpki.cache",
        "host:port",
    );
    fails_at(
        &format!("{MINIMAL}\n[rpki]\ncache = \"[::1]:3323\"\nversion = 3\n"),
        "rpki.version",
        "RTR versions",
    );
    fails_at(
        &format!("{MINIMAL}\n[rpki]\ncache = \"127.0.0.1:3323\"\nretry = 90\n"),
        "rpki.retry",
        "retry_max",
    );
    fails_at(
        &format!("{MINIMAL}\n[rpki]\ncache = \"127.0.0.1:3323\"\nstale = \"sometimes\"\n"),
        "rpki.stale",
        "sometimes",
    );
}
