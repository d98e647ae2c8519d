//! A tiny HTTP server on 127.0.0.1 that records each request and answers as the test
//! says: at once with a status, or only after a delay. Stopped in Drop.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server answers every request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// 200, but only after this long.
    After(Duration),
}

/// One request as received: lower-case header names.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == &name.to_ascii_lowercase()).map(|(_, value)| value.as_str())
    }
}

pub struct HttpServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stopped: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// On a port the OS chooses.
    pub fn start(answer: Answer) -> HttpServer {
        HttpServer::serve(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"), answer)
    }

    /// On `port`, which an earlier test step kept free.
    pub fn start_on(port: u16, answer: Answer) -> HttpServer {
        HttpServer::serve(TcpListener::bind(("127.0.0.1", port)).expect("bind the reserved port"), answer)
    }

    /// A port nobody listens on, for an endpoint that is down; no other test's server
    /// is given it (see `free_port`).
    pub fn closed_port() -> u16 {
        super::dovecot::free_port()
    }

    fn serve(listener: TcpListener, answer: Answer) -> HttpServer {
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let accepter = {
            let (requests, stopped) = (requests.clone(), stopped.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    std::thread::spawn(move || handle(stream, answer, &requests));
                }
            })
        };
        HttpServer { port, requests, stopped, accepter: Some(accepter) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn handle(stream: TcpStream, answer: Answer, requests: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, value)| value.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    requests.lock().unwrap().push(Request { path, headers, body });
    let status = match answer {
        Answer::Status(status) => status,
        Answer::After(delay) => {
            std::thread::sleep(delay);
            200
        }
    };
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 {status} Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}
