//! Helpers shared by the daemon tests: kumo's own speaker plays the clients.
// Each test file uses a different subset.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use kumo::speaker::{Speaker, SpeakerConfig};
use kumo_wire::{AsPath, AsPathSegment, Origin, PathAttributes};

/// A client speaking from 127.0.`net`.`host` with AS `asn`.
pub fn speaker(net: u8, host: u8, asn: u32) -> SpeakerConfig {
    SpeakerConfig::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, net, host)),
        asn,
        Ipv4Addr::new(10, 0, 0, host),
    )
}

/// A path from AS `asn` with a documentation next hop (never a client's own
/// address, so strict next-hop filters reject it).
pub fn attrs(asn: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![asn])])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 9)),
        ..Default::default()
    }
}

/// kumo started from the configuration file `path`, written with `text`
/// first (if given), so that a reload reads the file again.
pub async fn start_from_file(path: &std::path::Path, text: Option<&str>) -> kumo::daemon::Daemon {
    if let Some(text) = text {
        std::fs::write(path, text).unwrap();
    }
    kumo::daemon::Daemon::start_from(kumo_config::load(path).unwrap(), Some(path.to_path_buf()))
        .await
        .unwrap()
}

/// A port free on 127.0.`net`.1 right now.
pub fn free_port(net: u8) -> u16 {
    let l = std::net::TcpListener::bind((Ipv4Addr::new(127, 0, net, 1), 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// Does the speaker hold a path for `prefix`?
pub fn holds(s: &Speaker, prefix: &IpNet) -> bool {
    s.rib.keys().any(|n| n.prefix == *prefix)
}

/// One HTTP/1.1 request to the admin API; returns (status, body), the body
/// de-chunked.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: kumo\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    if !chunked {
        return (status, body.to_owned());
    }
    let mut rest = body;
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    (status, out)
}
