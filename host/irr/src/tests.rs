//! Loader and lookup tests over the committed samples in `testdata/`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ipnet::IpNet;

use crate::{
    InvalidObjects, IrrDb, IrrError, IrrPolicy, IrrSources, IrrVerdict, LengthBounds, PrefixRange,
    PrefixScope, RouteObjectMatch as M,
};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A private scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kumo-irr-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn sample() -> IrrDb {
    IrrSources::new([testdata("sample.rpsl")]).load().unwrap()
}

fn names(list: &[crate::SetName]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn as_set_expansion_table() {
    let db = sample();
    // (name asked, members, loops, unresolved, sets visited)
    type Row<'a> = (&'a str, &'a [u32], &'a [&'a str], &'a [&'a str], usize);
    let table: &[Row] = &[
        (
            "AS-FOO",
            &[64500, 64501, 64502, 64510, 64511],
            &["AS-LOOP-A"],
            &["AS-MISSING"],
            4,
        ),
        (
            "as-foo",
            &[64500, 64501, 64502, 64510, 64511],
            &["AS-LOOP-A"],
            &["AS-MISSING"],
            4,
        ),
        (
            "RIPE::AS-FOO",
            &[64500, 64501, 64502, 64510, 64511],
            &["AS-LOOP-A"],
            &["AS-MISSING"],
            4,
        ),
        ("RADB::AS-FOO", &[64999], &[], &[], 1),
        ("AS-LOOP-B", &[64510, 64511], &["AS-LOOP-B"], &["AS-MISSING"], 2),
        ("AS-SELF", &[64496], &["AS-SELF"], &[], 1),
        ("AS64500:AS-CUSTOMERS", &[64999, 65536], &[], &[], 2),
    ];
    for (name, asns, loops, unresolved, visited) in table {
        let e = db.as_set(name).unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(e.asns(), *asns, "{name}");
        assert_eq!(names(e.loops()), *loops, "{name}");
        assert_eq!(names(e.unresolved()), *unresolved, "{name}");
        assert_eq!(e.sets_visited(), *visited, "{name}");
    }
    for missing in ["AS-MISSING", "RADB::AS-BAR", "ARIN::AS-FOO", "not a set"] {
        assert!(db.as_set(missing).is_none(), "{missing}");
    }
    assert!(db.as_set("AS-FOO").unwrap().contains(64510));
    assert!(!db.as_set("AS-FOO").unwrap().contains(64999));
    assert_eq!(db.route_object_count(), 7);
    assert!(db.warnings().is_empty());
}

#[test]
fn origin_covers_table() {
    let db = sample();
    let any = LengthBounds::up_to(24, 48);
    let exact = LengthBounds::EXACT;
    let table: &[(u32, &str, LengthBounds, M)] = &[
        (64500, "192.0.2.0/24", exact, M::Exact),
        (64500, "192.0.2.0/24", any, M::Exact),
        (64500, "192.0.2.128/25", any, M::NotFound), // /25 is beyond the /24 bound
        (
            64500,
            "192.0.2.128/25",
            LengthBounds::up_to(25, 48),
            M::MoreSpecificWithinBounds,
        ),
        (64500, "192.0.2.128/25", exact, M::NotFound),
        (64500, "192.0.0.0/16", any, M::NotFound), // less specific is never covered
        (64501, "192.0.2.0/24", any, M::NotFound), // wrong origin
        (64999, "192.0.2.0/24", any, M::Exact),    // same prefix, other source
        (64502, "198.51.100.0/25", exact, M::Exact),
        (
            64501,
            "198.51.100.0/25",
            LengthBounds::up_to(25, 48),
            M::MoreSpecificWithinBounds,
        ),
        (64500, "2001:db8::/32", exact, M::Exact),
        (64500, "2001:db8:ffff::/48", any, M::MoreSpecificWithinBounds),
        (64500, "2001:db8:ffff::/49", any, M::NotFound),
        (64510, "2001:db8:1000::/36", any, M::Exact),
        (64510, "2001:db8::/32", any, M::NotFound),
        (4_200_000_000, "192.0.2.0/24", any, M::NotFound), // unknown origin
    ];
    for (asn, prefix, bounds, want) in table {
        assert_eq!(
            db.origin_covers(*asn, &net(prefix), *bounds),
            *want,
            "AS{asn} {prefix} {bounds:?}"
        );
    }
    assert_eq!(
        db.covering_route_objects(64500, &net("192.0.2.0/26")),
        vec![net("192.0.2.0/24")]
    );
}

#[test]
fn check_table() {
    let db = sample();
    let as_set = IrrPolicy::default();
    let origin = IrrPolicy {
        scope: PrefixScope::Origin,
        ..IrrPolicy::default()
    };
    let v = |found, in_set, prefix_match| IrrVerdict {
        as_set_found: found,
        origin_in_set: in_set,
        prefix_match,
    };
    let table: &[(&str, u32, &str, IrrPolicy, IrrVerdict)] = &[
        ("AS-FOO", 64500, "192.0.2.0/24", as_set, v(true, true, M::Exact)),
        // Registered for a member AS but announced by another member: AS-SET scope accepts it,
        // origin scope does not.
        ("AS-FOO", 64510, "192.0.2.0/24", as_set, v(true, true, M::Exact)),
        (
            "AS-FOO",
            64510,
            "192.0.2.0/24",
            origin,
            v(true, true, M::NotFound),
        ),
        (
            "AS-FOO",
            64511,
            "2001:db8:1000::/40",
            as_set,
            v(true, true, M::MoreSpecificWithinBounds),
        ),
        (
            "AS-FOO",
            64999,
            "203.0.113.0/24",
            as_set,
            v(true, false, M::NotFound),
        ),
        (
            "RADB::AS-FOO",
            64999,
            "203.0.113.0/24",
            as_set,
            v(true, true, M::Exact),
        ),
        (
            "AS64500:AS-CUSTOMERS",
            64999,
            "203.0.113.0/24",
            origin,
            v(true, true, M::Exact),
        ),
        (
            "AS-NOPE",
            64500,
            "192.0.2.0/24",
            as_set,
            v(false, false, M::NotFound),
        ),
        (
            "AS-NOPE",
            64500,
            "192.0.2.0/24",
            origin,
            v(false, false, M::Exact),
        ),
    ];
    for (set, asn, prefix, policy, want) in table {
        assert_eq!(
            db.check(set, *asn, &net(prefix), policy),
            *want,
            "{set} AS{asn} {prefix} {:?}",
            policy.scope
        );
        // The batch form answers the same, per prefix, in order.
        let batch = db.check_many(set, *asn, &[net("10.0.0.0/8"), net(prefix)], policy);
        assert_eq!(
            (batch.as_set_found, batch.origin_in_set, batch.prefix_match[1]),
            (want.as_set_found, want.origin_in_set, want.prefix_match),
            "check_many {set} AS{asn} {prefix}"
        );
        assert_eq!(batch.prefix_match[0], M::NotFound);
    }
}

#[test]
fn gzip_file_loads_like_plain() {
    let scratch = Scratch::new();
    let plain = std::fs::read(testdata("sample.rpsl")).unwrap();
    // The name does not say gzip: the magic bytes decide.
    let gz = scratch.write("sample.db", &gzip(&plain));
    let db = IrrSources::new([&gz]).load().unwrap();
    let reference = sample();
    assert_eq!(db.route_object_count(), reference.route_object_count());
    for name in ["AS-FOO", "RADB::AS-FOO", "AS64500:AS-CUSTOMERS"] {
        assert_eq!(db.as_set(name), reference.as_set(name), "{name}");
    }
    assert_eq!(
        db.origin_covers(64500, &net("2001:db8::/32"), LengthBounds::EXACT),
        M::Exact
    );

    let truncated = gzip(&plain);
    let broken = scratch.write("broken.gz", &truncated[..truncated.len() / 2]);
    let err = IrrSources::new([&broken]).load().unwrap_err();
    assert!(
        matches!(&err, IrrError::Io { path, .. } if *path == broken),
        "{err}"
    );
}

#[test]
fn bgpq4_lists_merge_into_the_as_set_view() {
    let db = IrrSources::new([
        testdata("bgpq4-v4-le.json"),
        testdata("bgpq4-v6-le.json"),
        testdata("bgpq4-asns.json"),
        testdata("bgpq4-asns-empty.json"),
    ])
    .load()
    .unwrap();
    assert_eq!(db.as_set("as_test").unwrap().asns(), &[2906, 3333, 397_213]);
    assert_eq!(db.as_set("AS_EMPTY").unwrap().asns(), &[] as &[u32]);
    let list = db.prefix_list("AS_TEST_V4").unwrap();
    assert_eq!(list.len(), 3);
    let bounds = LengthBounds::up_to(24, 48);
    let table: &[(&str, &str, M)] = &[
        ("AS_TEST_V4", "192.0.2.0/24", M::Exact),
        ("AS_TEST_V4", "192.0.2.64/26", M::MoreSpecificWithinBounds), // the list's own le 26
        ("AS_TEST_V4", "192.0.2.64/27", M::NotFound),
        ("AS_TEST_V4", "10.0.0.0/24", M::NotFound),
        ("AS_TEST_V6", "2001:db8:1::/48", M::MoreSpecificWithinBounds),
        ("AS_TEST_V6", "2001:db8::/32", M::Exact),
    ];
    for (name, prefix, want) in table {
        assert_eq!(
            db.as_set_covers(name, &net(prefix), bounds),
            *want,
            "{name} {prefix}"
        );
        assert_eq!(
            db.prefix_list(name).unwrap().lookup(&net(prefix), bounds),
            *want,
            "{name} {prefix}"
        );
    }

    // A ge/le list excludes the prefix itself.
    let db = IrrSources::new([testdata("bgpq4-v4-ge-le.json")]).load().unwrap();
    let list = db.prefix_list("AS_TEST_V4").unwrap();
    assert_eq!(
        list.lookup(&net("192.0.2.0/24"), LengthBounds::EXACT),
        M::NotFound
    );
    assert_eq!(
        list.lookup(&net("192.0.2.0/25"), LengthBounds::EXACT),
        M::MoreSpecificWithinBounds
    );
    assert_eq!(
        list.entries()[0],
        PrefixRange {
            prefix: net("192.0.2.0/24"),
            ge: 25,
            le: 26
        }
    );
}

#[test]
fn v4_and_v6_lists_of_one_name_are_merged() {
    let scratch = Scratch::new();
    let v4 = scratch.write(
        "v4.json",
        br#"{ "AS-FOO": [ { "prefix": "192.0.2.0\/24", "exact": true } ] }"#,
    );
    let v6 = scratch.write(
        "v6.json",
        br#"{ "AS-FOO": [ { "prefix": "2001:db8::\/32", "exact": true } ] }"#,
    );
    let asns = scratch.write("asns.json", br#"{"AS-FOO": [ 64500 ]}"#);
    let db = IrrSources::new([&v4, &v6, &asns]).load().unwrap();
    let verdict = db.check("AS-FOO", 64500, &net("2001:db8::/32"), &IrrPolicy::default());
    assert_eq!(
        verdict,
        IrrVerdict {
            as_set_found: true,
            origin_in_set: true,
            prefix_match: M::Exact
        }
    );
    assert_eq!(
        db.check("AS-FOO", 64500, &net("192.0.2.0/24"), &IrrPolicy::default())
            .prefix_match,
        M::Exact
    );
}

#[test]
fn first_file_wins_for_unqualified_names() {
    let scratch = Scratch::new();
    let a = scratch.write("a.db", b"as-set: AS-X\nmembers: AS1\nsource: ALPHA\n");
    let b = scratch.write("b.db", b"as-set: AS-X\nmembers: AS2\nsource: BETA\n");
    let ab = IrrSources::new([&a, &b]).load().unwrap();
    let ba = IrrSources::new([&b, &a]).load().unwrap();
    assert_eq!(ab.as_set("AS-X").unwrap().asns(), &[1]);
    assert_eq!(ba.as_set("AS-X").unwrap().asns(), &[2]);
    assert_eq!(ab.as_set("BETA::AS-X").unwrap().asns(), &[2]);
}

#[test]
fn errors_name_file_and_line() {
    let scratch = Scratch::new();
    let missing = scratch.0.join("missing.db");
    let err = IrrSources::new([&missing]).load().unwrap_err();
    assert!(matches!(&err, IrrError::Io { path, .. } if *path == missing));
    assert!(err.to_string().contains("missing.db"), "{err}");

    let bad = scratch.write(
        "bad.db",
        b"route: 192.0.2.0/24\norigin: AS1\n\nroute: 192.0.2.0/24\norigin: AS-X\n",
    );
    let err = IrrSources::new([&bad]).load().unwrap_err();
    match &err {
        IrrError::Parse { path, line, .. } => {
            assert_eq!(path, &bad);
            assert_eq!(*line, 5);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().starts_with(&format!("{}:5: ", bad.display())),
        "{err}"
    );

    let bad_json = scratch.write("bad.json", b"{ \"L\": [\n  { \"prefix\": \"192.0.2.0/24\" }\n] }");
    let err = IrrSources::new([&bad_json]).load().unwrap_err();
    assert!(matches!(&err, IrrError::Parse { line: 2, .. }), "{err}");

    // Lenient loading keeps the good objects and reports the bad one.
    let sources = IrrSources {
        files: vec![bad.clone()],
        invalid_objects: InvalidObjects::Skip,
    };
    let db = sources.load().unwrap();
    assert_eq!(db.route_object_count(), 1);
    assert_eq!(db.warnings().len(), 1);
    assert_eq!(db.warnings()[0].line, 5);
}

#[test]
fn diff_after_reload_names_changed_origins_and_sets() {
    let scratch = Scratch::new();
    let base = std::fs::read_to_string(testdata("sample.rpsl")).unwrap();
    let path = scratch.write("irr.db", base.as_bytes());
    let sources = IrrSources::new([&path]);
    let old = sources.load().unwrap();

    // Unchanged reload: nothing to re-evaluate, but a new generation.
    let same = sources.load().unwrap();
    assert!(same.generation() > old.generation());
    let sets = ["AS-FOO", "RADB::AS-FOO", "AS64500:AS-CUSTOMERS", "AS-SELF"];
    assert!(IrrDb::diff_relevant(&old, &same, &sets).is_empty());

    // AS64510 gets a new route object; AS-SELF gains a member; AS64999 loses its /24.
    let changed =
        base.replace(
            "members:      AS64496, AS-SELF",
            "members:      AS64496, AS64497, AS-SELF",
        )
        .replace(
            "route:        203.0.113.0/24\norigin:       AS64999\nsource:      RADB\n",
            "route:        203.0.113.0/25\norigin:       AS64999\nsource:      RADB\n",
        ) + "\nroute: 192.0.2.0/24\norigin: AS64510\nsource: RIPE\n";
    std::fs::write(&path, changed).unwrap();
    let new = sources.load().unwrap();
    let diff = IrrDb::diff_relevant(&old, &new, &sets);
    assert_eq!(
        diff.changed_origins.iter().copied().collect::<Vec<_>>(),
        vec![64510, 64999]
    );
    // AS-FOO contains AS64510; RADB::AS-FOO and AS64500:AS-CUSTOMERS contain AS64999.
    assert_eq!(
        diff.changed_as_sets
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["AS-FOO", "AS-SELF", "AS64500:AS-CUSTOMERS", "RADB::AS-FOO"]
    );
    assert_eq!(
        new.origin_covers(64510, &net("192.0.2.0/24"), LengthBounds::EXACT),
        M::Exact
    );
}

#[test]
fn snapshot_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IrrDb>();
    let db = std::sync::Arc::new(sample());
    db.prepare(&["AS-FOO"]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                db.check("AS-FOO", 64501, &net("198.51.100.0/24"), &IrrPolicy::default())
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap().prefix_match, M::Exact);
    }
}
