//! The few HTTP requests the benchmark makes itself (sign-up, convert,
//! checks, round-trip counts): HTTP/1.1 over a std `TcpStream`, one
//! connection per request, cookies kept. The load itself is wrk's job, so
//! this client only needs to be correct, not fast.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The hidden CSRF field of the page's forms.
    pub fn csrf_token(&self) -> anyhow::Result<String> {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self
            .body
            .find(marker)
            .context("no CSRF token on the page")?
            + marker.len();
        let end = self.body[start..].find('"').context("unterminated token")? + start;
        Ok(self.body[start..end].to_string())
    }
}

/// A browser without redirects: keeps the cookies it is given.
pub struct Client {
    addr: SocketAddr,
    cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            cookies: BTreeMap::new(),
        }
    }

    /// The `Cookie` header value this client sends (for wrk's `-H`).
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Starts from the cookies of another client (`name=value; …`).
    pub fn set_cookie_header(&mut self, header: &str) {
        for pair in header.split(';') {
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        self.send("GET", path, None)
    }

    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Response> {
        let body = serde_urlencoded::to_string(fields)?;
        self.send("POST", path, Some(body))
    }

    fn send(&mut self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<Response> {
        let mut stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !self.cookies.is_empty() {
            request.push_str(&format!("Cookie: {}\r\n", self.cookie_header()));
        }
        if let Some(body) = &body {
            request.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body.as_deref().unwrap_or_default());
        stream.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let response = parse(&raw).with_context(|| format!("{method} {path}"))?;
        for (name, value) in &response.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        Ok(response)
    }
}

fn parse(raw: &[u8]) -> anyhow::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let Some(status) = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
    else {
        bail!("bad status line {status_line:?}");
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).context("short chunk")?);
        data = data.get(size + 2..).context("short chunk")?;
    }
}
