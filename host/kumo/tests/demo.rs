//! `kumo demo`: the newcomer's first run tells a true story.
#![allow(clippy::unwrap_used)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_filters_the_bogon_and_delivers_the_rest() {
    let mut out = Vec::new();
    let (daemon, members) = kumo::demo::start(21179, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    // Member C holds exactly the routes of A and B that passed rs-standard.
    let c = &members[2];
    let mut held: Vec<String> = c.rib.keys().map(|n| n.prefix.to_string()).collect();
    held.sort();
    assert_eq!(
        held,
        [
            "192.0.2.0/24",
            "198.51.100.0/24",
            "2001:db8:1::/48",
            "203.0.113.0/24"
        ],
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("as65002")
            && l.contains("10.0.0.0/8")
            && l.contains("rejected by rs-standard: code 2")),
        "{text}"
    );
    assert!(text.contains("as65003  received 4 routes"), "{text}");
    assert!(
        text.contains("/api/v1/clients/as65002/routes?view=filtered"),
        "{text}"
    );
    daemon.shutdown("test over").await;
}
