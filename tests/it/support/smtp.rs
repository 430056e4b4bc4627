//! A small SMTP server for the tests, on a loopback port: it speaks
//! enough of the protocol for a real client (lettre) to deliver to it
//! (EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT), keeps every
//! message it accepts, and can answer 451 for a while to test retries.
//! It runs on its own thread with its own tokio runtime, so a test may
//! deliver to it from any thread.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body), dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The raw message with quoted-printable soft line breaks joined, so
    /// a long link reads whole.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "")
    }

    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The first link in the message that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let link: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
            .collect();
        Some(link)
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Transactions still to refuse with 451.
    refusals: usize,
}

pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind SMTP port");
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(converse(stream, shared.clone()));
                }
            });
        });
        SmtpServer { port, state }
    }

    /// `SMTP_URL` for a console delivering here (plain: a loopback host).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answer the next `n` mail transactions with 451 (try again later).
    pub fn refuse(&self, n: usize) {
        self.state.lock().unwrap().refusals = n;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The messages to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }
}

/// The address in `MAIL FROM:<a@b> SIZE=…` or `RCPT TO:<a@b>`.
fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_string()
}

async fn say(write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> bool {
    write.write_all(text.as_bytes()).await.is_ok()
}

async fn converse(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !say(&mut write, "220 localhost test SMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut refused = false;
    loop {
        let mut line = String::new();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let verb = line
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_string(),
            "HELO" => "250 localhost\r\n".to_string(),
            "MAIL" => {
                let mut s = state.lock().unwrap();
                if s.refusals > 0 {
                    s.refusals -= 1;
                    refused = true;
                    "451 4.3.0 Try again later\r\n".to_string()
                } else {
                    refused = false;
                    from = address(&line[4..]);
                    to.clear();
                    "250 OK\r\n".to_string()
                }
            }
            "RCPT" if refused => "503 5.5.1 No sender\r\n".to_string(),
            "RCPT" => {
                to.push(address(&line[4..]));
                "250 OK\r\n".to_string()
            }
            "DATA" => {
                if !say(&mut write, "354 End data with <CR><LF>.<CR><LF>\r\n").await {
                    return;
                }
                let mut data = String::new();
                loop {
                    let mut part = String::new();
                    match lines.read_line(&mut part).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if part == ".\r\n" || part == ".\n" {
                        break;
                    }
                    let part = part.strip_prefix('.').unwrap_or(&part);
                    data.push_str(part);
                }
                state.lock().unwrap().received.push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                "250 OK queued\r\n".to_string()
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK\r\n".to_string()
            }
            "NOOP" => "250 OK\r\n".to_string(),
            "QUIT" => {
                say(&mut write, "221 Bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 Command not recognised\r\n".to_string(),
        };
        if !say(&mut write, &reply).await {
            return;
        }
    }
}
