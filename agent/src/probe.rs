//! `fleetlog-agent probe URL`: a health check for images without a shell or curl
//! (the Dockerfile's `HEALTHCHECK` on the agent's `metrics_listen`): one `GET` of an `http://HOST:PORT/PATH` URL over
//! plain TCP, success on a 2xx status. The URL and status parsing are pure.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("`{0}` is not an http://HOST:PORT/PATH URL")]
    Url(String),
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} resolves to no address")]
    Resolve { addr: String },
    #[error("{url} answered `{status}`")]
    Status { url: String, status: String },
}

/// Splits `http://host:port/path` into `host:port` and `/path`.
pub fn parse_url(url: &str) -> Result<(String, String), ProbeError> {
    let bad = || ProbeError::Url(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() || path.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok((authority.to_owned(), path.to_owned()))
}

/// Whether an HTTP status line (`HTTP/1.1 200 OK`) says 2xx.
pub fn is_success(status_line: &str) -> bool {
    let mut parts = status_line.split_whitespace();
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some(code))
            if version.starts_with("HTTP/") && code.len() == 3 && code.starts_with('2')
    )
}

/// GETs `url`; `Ok` on a 2xx answer within `timeout` (per connect, write and read).
pub fn probe(url: &str, timeout: Duration) -> Result<(), ProbeError> {
    let (addr, path) = parse_url(url)?;
    let io = |source| ProbeError::Io {
        addr: addr.clone(),
        source,
    };
    let target = addr
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ProbeError::Resolve { addr: addr.clone() })?;
    let mut stream = TcpStream::connect_timeout(&target, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    // One write: a server that reads the request once must see all of it.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = Vec::with_capacity(256);
    stream.take(256).read_to_end(&mut head).map_err(io)?;
    let text = String::from_utf8_lossy(&head);
    let status = text.lines().next().unwrap_or("").trim().to_owned();
    if is_success(&status) {
        Ok(())
    } else {
        Err(ProbeError::Status {
            url: url.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "http://127.0.0.1:8080/readyz",
                Some(("127.0.0.1:8080", "/readyz")),
            ),
            ("http://localhost:9464", Some(("localhost:9464", "/"))),
            (
                "http://[::1]:8080/healthz",
                Some(("[::1]:8080", "/healthz")),
            ),
            ("https://127.0.0.1:8080/readyz", None),
            ("http://127.0.0.1/readyz", None),
            ("http://:8080/", None),
            ("http://h:99999/", None),
            ("http://h:80/a b", None),
        ];
        for (url, want) in cases {
            let got = parse_url(url).ok();
            let want = want.map(|(a, p)| (a.to_owned(), p.to_owned()));
            assert_eq!(got, want, "{url}");
        }
    }

    #[test]
    fn statuses() {
        let cases = [
            ("HTTP/1.1 200 OK", true),
            ("HTTP/1.0 204 No Content", true),
            ("HTTP/1.1 503 Service Unavailable", false),
            ("HTTP/1.1 301 Moved", false),
            ("", false),
            ("garbage 200", false),
        ];
        for (line, want) in cases {
            assert_eq!(is_success(line), want, "{line}");
        }
    }

    #[test]
    fn probes_a_real_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\n\r\nok",
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 512];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "request cut short");
                    request.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let url = format!("http://{addr}/readyz");
        assert!(probe(&url, Duration::from_secs(5)).is_ok());
        assert!(matches!(
            probe(&url, Duration::from_secs(5)),
            Err(ProbeError::Status { .. })
        ));
        server.join().unwrap();
        // Nothing listens there any more.
        assert!(matches!(
            probe(&url, Duration::from_secs(5)),
            Err(ProbeError::Io { .. })
        ));
    }
}
