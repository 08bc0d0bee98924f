//! A minimal HTTP/1.1 keep-alive client.
//!
//! The load generator shares the machine's two cores with the server it measures, so every
//! microsecond the client spends is taken from the server. A general-purpose client (pooling,
//! header maps, body streams) costs several times what this does: the request is one buffer
//! written with one `write_all`, and the answer is read into a reused buffer and split at
//! `Content-Length`. It speaks only what the benchmark needs (no chunked answers, no
//! pipelining) and says so when it meets anything else.

use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer: status and body.
pub struct Answer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The body (borrowed from the connection's buffer).
    pub body: &'a [u8],
}

impl Connection {
    /// Connects to `addr` with Nagle's algorithm off (a request is one write; waiting for an
    /// ACK before sending it would add up to 40 ms).
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends a complete request (head and body, see [`request`]) and reads the answer.
    pub async fn send(&mut self, request: &[u8]) -> Result<Answer<'_>> {
        self.stream
            .write_all(request)
            .await
            .context("sending the request")?;
        self.buf.clear();
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head =
            std::str::from_utf8(&self.buf[..head_end]).context("the answer's head is not text")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("not an HTTP status line: {:?}", head.lines().next()))?;
        let mut length = None;
        for line in head.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().context("Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked answers are not supported by this client");
            }
        }
        let length = length.ok_or_else(|| anyhow!("the answer has no Content-Length"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        Ok(Answer {
            status,
            body: &self.buf[head_end..head_end + length],
        })
    }

    /// Sends a `GET` and returns the body as text.
    pub async fn get(&mut self, path: &str) -> Result<(u16, String)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let answer = self.send(request.as_bytes()).await?;
        Ok((
            answer.status,
            String::from_utf8_lossy(answer.body).into_owned(),
        ))
    }

    async fn fill(&mut self) -> Result<()> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .context("reading the answer")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A `POST` of a JSON body with a Bearer key, as one buffer.
pub fn request(path: &str, secret: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}
