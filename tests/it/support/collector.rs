//! A collector for audit streaming tests: a small HTTP/1.1 server on
//! 127.0.0.1 (std's TcpListener, a thread per connection) that records
//! every request it receives (headers and body) and answers as the test
//! tells it: 200, another status, or nothing at all for a while (a
//! stall, which the console's timeout must cut short).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use uuid::Uuid;

use crate::support::TestApp;

/// How the collector answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 after `delay`.
    Ok { delay: Duration },
    /// This status.
    Status(u16),
    /// Nothing for this long, then the connection is closed.
    Stall(Duration),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The status it was answered with (0: none, it stalled).
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The entry id of the body.
    pub fn id(&self) -> i64 {
        self.json()["id"].as_i64().expect("an id")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    in_flight: usize,
    most_in_flight: usize,
}

pub struct Collector {
    pub port: u16,
    answer: Arc<Mutex<Answer>>,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
}

impl Collector {
    pub fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(Answer::Ok {
            delay: Duration::ZERO,
        }));
        let state = Arc::new(Mutex::new(State::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (a, s, stop) = (answer.clone(), state.clone(), stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (a, s) = (a.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &a, &s));
            }
        });
        Collector {
            port,
            answer,
            state,
            stopping,
        }
    }

    /// The URL destinations are added with.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/team-console", self.port)
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Every request received so far, in the order they arrived.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests answered with 200, in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// The most requests it was ever serving at once.
    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, answer: &Mutex<Answer>, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    {
        let mut s = state.lock().unwrap();
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
    }
    let now = *answer.lock().unwrap();
    let status = match now {
        Answer::Ok { delay } => {
            std::thread::sleep(delay);
            200
        }
        Answer::Status(status) => status,
        Answer::Stall(for_how_long) => {
            std::thread::sleep(for_how_long);
            0
        }
    };
    {
        let mut s = state.lock().unwrap();
        s.in_flight -= 1;
        s.received.push(Received {
            headers,
            body,
            answered: status,
        });
    }
    if status != 0 {
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        );
        let _ = stream.flush();
    }
}

impl TestApp {
    /// Arrange: a destination of `account` at `url`, inserted directly
    /// (its secret sealed as the console seals it), its cursor at the
    /// account's last entry. Returns its id.
    pub fn insert_stream_destination(
        &self,
        account: Uuid,
        created_by: Uuid,
        url: &str,
        secret: &str,
    ) -> Uuid {
        use team_console::db::schema::{audit_entries as a, audit_stream_destinations as d};
        use team_console::ids::StreamDestinationId;
        let mut conn = self.conn();
        let id = StreamDestinationId::new();
        let seal = team_console::streaming::Seal::new(&self.secret_key);
        let cursor: Option<i64> = a::table
            .filter(a::account_id.eq(account))
            .select(diesel::dsl::max(a::id))
            .first(&mut conn)
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        diesel::insert_into(d::table)
            .values((
                d::id.eq(id.as_uuid()),
                d::account_id.eq(account),
                d::url.eq(url),
                d::secret_sealed.eq(seal.seal(id, secret)),
                d::created_by.eq(created_by),
                d::created_at.eq(now),
                d::cursor.eq(cursor.unwrap_or(0)),
                d::next_attempt_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
        id.as_uuid()
    }

    /// Delivers what is due at `now`, as each console does every second
    /// (off in tests), off the test's thread.
    pub async fn deliver_stream(
        &self,
        streamer: &team_console::streaming::Streamer,
        now: time::OffsetDateTime,
    ) -> team_console::streaming::DeliveryReport {
        let (url, streamer) = (self.db_url.clone(), streamer.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).expect("connect to the test database");
            team_console::streaming::deliver_due(&mut conn, &streamer, now).expect("deliver")
        })
        .await
        .expect("the delivery thread")
    }

    /// How tests deliver: private addresses allowed (the collector is on
    /// 127.0.0.1), a one-second timeout.
    pub fn streamer(&self) -> team_console::streaming::Streamer {
        let mut streamer = team_console::streaming::Streamer::new(&self.secret_key, true);
        streamer.timeout = Duration::from_secs(1);
        streamer
    }
}
