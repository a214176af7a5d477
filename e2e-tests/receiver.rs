//! A webhook receiver for the tests: a small HTTP/1.1 server on a free local port that
//! records every request and answers as each path is told to (succeed, fail with 500,
//! answer 410, hang past the sender's timeout, drop the connection unanswered, or answer
//! 200 slowly).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Fail,
    Gone,
    Hang,
    Reset,
    Slow,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    answers: HashMap<String, Answer>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Receiver { base_url, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// How `path` answers from now on (paths not told answer 200).
    pub fn answer(&self, path: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answer);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received `count` requests (at most 60 seconds).
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        self.wait_for_within(path, count, Duration::from_secs(60))
            .await
    }

    /// Waits until `path` has received `count` requests, at most `limit`.
    pub async fn wait_for_within(
        &self,
        path: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<Received> {
        match self.received_within(path, count, limit).await {
            Ok(received) => received,
            Err(got) => panic!("{path} received {got} of {count} requests"),
        }
    }

    /// The requests to `path` once there are `count` of them, or how many came by `limit`.
    pub async fn received_within(
        &self,
        path: &str,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<Received>, usize> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received(path);
            if received.len() >= count {
                return Ok(received);
            }
            if Instant::now() >= deadline {
                return Err(received.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = {
            let mut state = state.lock().unwrap();
            state.received.push(Received {
                path: path.clone(),
                headers,
                body,
                at: Instant::now(),
            });
            state.answers.get(&path).copied().unwrap_or(Answer::Ok)
        };
        let status = match answer {
            Answer::Ok => "200 OK",
            Answer::Fail => "500 Internal Server Error",
            Answer::Gone => "410 Gone",
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Answer::Reset => {
                // Linger zero: closing sends a TCP reset, not an orderly end (and, being
                // zero, never blocks the thread the deprecation warns about).
                #[allow(deprecated)]
                let _ = reader.get_mut().set_linger(Some(Duration::ZERO));
                return;
            }
            Answer::Slow => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "200 OK"
            }
        };
        let response = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
