//! The tests' one HTTP client: a minimal HTTP/1.1 exchange over std::net::TcpStream, plain or
//! over rustls (every TLS decision — which CA, which client certificate — made by the caller),
//! `Connection: close`, chunked or Content-Length bodies, returned as sent (no decompression).
//! It talks to the exporter, Prometheus, Alertmanager and the web-config tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    /// The body as (lossy) text: what a failure message wants to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.text())
            .finish()
    }
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// TLS for [`request`]: the client configuration and the name the server certificate must
/// carry (e.g. "127.0.0.1").
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: String,
}

/// GET `path` from `addr` with extra request headers, in plain HTTP.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    request(addr, "GET", path, headers, None)
}

/// One `method path` exchange with extra request headers (a `Content-Length: 0` body for
/// anything but GET), over TLS when `tls` is given. Transport and TLS failures are `Err`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    tls: Option<&Tls>,
) -> Result<Response, String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
        .map_err(|e| e.to_string())?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if method != "GET" {
        request.push_str("Content-Length: 0\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let mut raw = Vec::new();
    match tls {
        None => {
            let mut stream = stream;
            stream
                .write_all(request.as_bytes())
                .map_err(|e| format!("send {method} {path} to {addr}: {e}"))?;
            stream
                .read_to_end(&mut raw)
                .map_err(|e| format!("read the answer to {method} {path} from {addr}: {e}"))?;
        }
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(tls.server_name.clone())
                .map_err(|e| format!("server name {:?}: {e}", tls.server_name))?;
            let conn = rustls::ClientConnection::new(tls.config.clone(), name)
                .map_err(|e| e.to_string())?;
            let mut stream = rustls::StreamOwned::new(conn, stream);
            stream
                .write_all(request.as_bytes())
                .map_err(|e| format!("tls write: {e}"))?;
            match stream.read_to_end(&mut raw) {
                Ok(_) => {}
                // A peer that closes without close_notify after a complete response is fine.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
                Err(e) => return Err(format!("tls read: {e}")),
            }
        }
    }
    parse_response(&raw).map_err(|e| format!("{method} {path} from {addr}: {e}"))
}

pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[head_end + 4..];
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        rest.get(..len)
            .ok_or("body shorter than content-length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_sized_bodies_from_a_server() {
        // Port 0: the OS picks one and it stays ours (a port handed out by free_port is free
        // only until someone else binds it).
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let answers: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                  Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nup 1\n\r\n7\r\ndown 0\n\r\n0\r\n\r\n",
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\nnot ready",
            ];
            let mut requests = Vec::new();
            for answer in answers {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                requests.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(answer).unwrap();
            }
            requests
        });
        let r = get(addr, "/metrics", &[("Accept-Encoding", "identity")]).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("text/plain; version=0.0.4"));
        assert_eq!(r.text(), "up 1\ndown 0\n");
        let r = get(addr, "/ready", &[]).unwrap();
        assert_eq!((r.status, r.text().as_str()), (503, "not ready"));
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("GET /metrics HTTP/1.1\r\n"));
        assert!(requests[0].contains("Accept-Encoding: identity\r\n"));
        assert!(requests[1].starts_with("GET /ready HTTP/1.1\r\n"));
    }

    #[test]
    fn rejects_truncated_answers() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab")
                .is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
