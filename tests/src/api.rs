//! A small blocking HTTP/1.1 client for kumo's admin API, over a plain [`TcpStream`].
//!
//! One request per connection (`Connection: close`): the tests make a few dozen calls, so
//! keep-alive would only add state. Responses may be chunked (hyper streams some bodies);
//! both `Content-Length` and `Transfer-Encoding: chunked` are decoded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// The bearer token the e2e tests configure in `[admin]`.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";

/// How long one request may take; a hot swap compiles a component, so this is generous.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// kumo's admin API at `addr`.
#[derive(Debug, Clone)]
pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("HTTP {} body is not JSON: {}", self.status, self.text()))
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Fails unless the status is `want`, quoting the body.
    pub fn expect(self, want: u16) -> Result<Self> {
        ensure!(
            self.status == want,
            "HTTP {} (want {want}): {}",
            self.status,
            self.text()
        );
        Ok(self)
    }
}

impl Api {
    /// The API at `addr` with the tests' token.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: ADMIN_TOKEN.to_owned(),
        }
    }

    /// The `[admin]` table for kumo's config.
    pub fn config_section(&self) -> String {
        format!("[admin]\nlisten = \"{}\"\ntoken = \"{}\"", self.addr, self.token)
    }

    /// `GET path` (reads need no token).
    pub fn get(&self, path: &str) -> Result<Response> {
        self.request("GET", path, None, &[], false)
    }

    /// `GET path`, expecting 200 and a JSON body.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        self.get(path)?.expect(200)?.json()
    }

    /// `POST path` with a JSON body and the token.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Response> {
        let body = serde_json::to_vec(body)?;
        self.request("POST", path, Some("application/json"), &body, true)
    }

    /// `PUT path` with a WebAssembly component as the body and the token.
    pub fn put_wasm(&self, path: &str, wasm: &[u8]) -> Result<Response> {
        self.request("PUT", path, Some("application/wasm"), wasm, true)
    }

    /// `POST path` with a WebAssembly component as the body and the token (dry run).
    pub fn post_wasm(&self, path: &str, wasm: &[u8]) -> Result<Response> {
        self.request("POST", path, Some("application/wasm"), wasm, true)
    }

    /// `GET /api/v1/clients/{name}`.
    pub fn client(&self, name: &str) -> Result<Value> {
        self.get_json(&format!("/api/v1/clients/{name}"))
    }

    /// Waits until the admin API answers `GET /livez` (kumo binds it after start-up).
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        crate::wait_until(timeout, Duration::from_millis(100), || {
            Ok(self.get("/livez")?.status == 200)
        })
        .context("waiting for the admin API")
    }

    /// One request; `auth` adds `Authorization: Bearer TOKEN`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        auth: bool,
    ) -> Result<Response> {
        let what = format!("{method} http://{}{path}", self.addr);
        let mut stream = TcpStream::connect_timeout(&self.addr, REQUEST_TIMEOUT)
            .with_context(|| format!("{what}: connecting"))?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if auth {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .with_context(|| format!("{what}: sending"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .with_context(|| format!("{what}: reading the response"))?;
        parse_response(&raw).with_context(|| format!("{what}: parsing the response"))
    }
}

/// Parses a complete HTTP/1.1 response (the connection was closed after it).
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        bail!("bad status line {status_line:?}")
    };
    ensure!(version.starts_with("HTTP/1."), "not HTTP/1.x: {status_line:?}");
    let status: u16 = code
        .parse()
        .with_context(|| format!("bad status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("bad header line {line:?}")
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    response.body = if chunked {
        decode_chunked(rest)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .with_context(|| format!("bad Content-Length {len:?}"))?;
        ensure!(rest.len() >= len, "body cut short: {} of {len} bytes", rest.len());
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Decodes a chunked body (RFC 9112 §7.1); trailers are ignored.
fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line not terminated")?;
        let line = std::str::from_utf8(&data[..eol]).context("chunk size is not UTF-8")?;
        // Chunk extensions (`;name=value`) carry nothing the tests need.
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).with_context(|| format!("bad chunk size {line:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        ensure!(data.len() >= size + 2, "chunk cut short");
        body.extend_from_slice(&data[..size]);
        ensure!(&data[size..size + 2] == b"\r\n", "chunk not followed by CRLF");
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_content_length_body() {
        let r = parse_response(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nContent-Length: 13\r\n\r\n{\"error\":\"x\"}trailing",
        )
        .unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json().unwrap()["error"], "x");
    }

    #[test]
    fn parses_chunked_body() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3;x=y\r\n 1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "{\"a\": 1}");
        assert_eq!(r.json().unwrap()["a"], 1);
    }

    #[test]
    fn rejects_broken_responses() {
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SMTP 220 hello\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    #[test]
    fn expect_reports_the_body() {
        let r = parse_response(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nno way").unwrap();
        let err = format!("{:#}", r.expect(200).unwrap_err());
        assert!(err.contains("401") && err.contains("no way"), "{err}");
    }
}
