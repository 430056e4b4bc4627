//! Where messages go: an SMTP server (`SMTP_URL`, through lettre) or, for
//! an install without one, `.eml` files in `DATA_DIR/outbox/`.
//!
//! How `SMTP_URL` says whether to use TLS: `smtps://` is TLS from the
//! first byte (port 465 by default); `smtp://` to any host but a loopback
//! one requires STARTTLS (port 587 by default), so a password never
//! crosses a network in the clear by mistake; `smtp://` to 127.0.0.1, ::1
//! or localhost is plain SMTP (a local relay such as a sidecar Postfix or
//! a test server). `?tls=required`, `?tls=opportunistic` or `?tls=none`
//! at the end of the URL overrides the rule either way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};

use crate::mail::MailError;
use crate::mail::outbox::{Queued, Seal};

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again: the server is down, busy, or answered 4xx.
    Temporary(String),
    /// It will never be accepted: the server answered 5xx, or the message
    /// cannot be made (an address that is not one).
    Permanent(String),
}

/// The console's way of sending mail, and who it is from.
pub struct Sender {
    from: Mailbox,
    way: Way,
    seal: Seal,
}

enum Way {
    Smtp {
        transport: SmtpTransport,
        /// "host:port", for the log (never the credentials).
        server: String,
    },
    Folder(PathBuf),
}

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl Sender {
    /// Through `smtp_url` when given, else into `outbox_dir`; `secret` is
    /// the console's secret key, which opens the queued bodies.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        outbox_dir: &Path,
        secret: &[u8],
    ) -> Result<Sender, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::BadFrom(format!("{from}: {e}")))?;
        let way = match smtp_url {
            Some(raw) => smtp(raw)?,
            None => Way::Folder(outbox_dir.to_path_buf()),
        };
        Ok(Sender {
            from,
            way,
            seal: Seal::new(secret),
        })
    }

    /// Where mail goes, in words for the log at start.
    pub fn describe(&self) -> String {
        match &self.way {
            Way::Smtp { server, .. } => format!("through the SMTP server {server}"),
            Way::Folder(dir) => {
                format!("into {} as .eml files (no SMTP_URL is set)", dir.display())
            }
        }
    }

    /// The folder messages are written to, when there is no SMTP server.
    pub fn folder(&self) -> Option<&Path> {
        match &self.way {
            Way::Folder(dir) => Some(dir),
            Way::Smtp { .. } => None,
        }
    }

    /// Sends one queued message (blocking: the caller is a worker thread).
    pub fn send(&self, queued: &Queued) -> Result<(), SendError> {
        let message = self.message(queued)?;
        match &self.way {
            Way::Smtp { transport, .. } => match transport.send(&message) {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Temporary(e.to_string())),
            },
            Way::Folder(dir) => write_eml(dir, queued, &message.formatted())
                .map_err(|e| SendError::Temporary(format!("{}: {e}", dir.display()))),
        }
    }

    fn message(&self, queued: &Queued) -> Result<Message, SendError> {
        let bodies = self.seal.open(queued.id, &queued.body).ok_or_else(|| {
            SendError::Permanent(
                "the message was sealed under another SECRET_KEY (or altered)".to_string(),
            )
        })?;
        let to: Mailbox = queued.recipient.parse().map_err(|e| {
            SendError::Permanent(format!("{} is not an email address: {e}", queued.recipient))
        })?;
        let date: std::time::SystemTime = queued.created_at.into();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&queued.subject)
            .date(date)
            .message_id(Some(format!(
                "<{}@{}>",
                queued.id,
                self.from.email.domain()
            )))
            .multipart(MultiPart::alternative_plain_html(bodies.text, bodies.html))
            .map_err(|e| SendError::Permanent(e.to_string()))
    }
}

/// Writes the message whole or not at all (a temporary name, then a
/// rename), named so the folder lists oldest first.
fn write_eml(dir: &Path, queued: &Queued, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp = queued
        .created_at
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let name = format!("{stamp}-{}.eml", queued.id);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, dir.join(name))
}

fn smtp(raw: &str) -> Result<Way, MailError> {
    let bad = |e: &dyn std::fmt::Display| MailError::BadUrl(e.to_string());
    let mut url = url::Url::parse(raw).map_err(|e| bad(&e))?;
    if url.scheme() == "smtp" {
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let tls = pairs
            .iter()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.as_str());
        match tls {
            None if !is_loopback(&url) => {
                url.query_pairs_mut().append_pair("tls", "required");
            }
            Some("none") => {
                let kept: Vec<_> = pairs.iter().filter(|(k, _)| k != "tls").collect();
                url.set_query(None);
                if !kept.is_empty() {
                    url.query_pairs_mut().extend_pairs(kept);
                }
            }
            _ => {}
        }
    }
    let server = format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port()
            .map_or("default port".to_string(), |p| p.to_string())
    );
    let transport = SmtpTransport::from_url(url.as_str())
        .map_err(|e| bad(&e))?
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    Ok(Way::Smtp { transport, server })
}

/// smtp:// is not a "special" scheme to the URL parser: its IP addresses
/// come back as domain names, so they are read here.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let bare = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(url: &str) -> String {
        Sender::new(
            Some(url),
            "Console <console@example.com>",
            Path::new("/nowhere"),
            b"k",
        )
        .map(|s| s.describe())
        .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn smtp_urls_are_read_with_their_tls_rule() {
        assert!(
            described("smtp://user:pass@mail.example.com:587").contains("mail.example.com:587")
        );
        assert!(described("smtps://mail.example.com").contains("mail.example.com"));
        assert!(described("smtp://127.0.0.1:2525").contains("127.0.0.1:2525"));
        assert!(described("smtp://relay.internal:25?tls=none").contains("relay.internal:25"));
        assert!(described("http://example.com").contains("not a mail server URL"));
        assert!(described("not a url").contains("not a mail server URL"));
    }

    #[test]
    fn only_loopback_hosts_are_spoken_to_in_plain_text() {
        let plain = |u: &str| is_loopback(&url::Url::parse(u).unwrap());
        assert!(plain("smtp://127.0.0.1:2525"));
        assert!(plain("smtp://[::1]:2525"));
        assert!(plain("smtp://localhost:25"));
        assert!(!plain("smtp://10.0.0.5:25"));
        assert!(!plain("smtp://mail.example.com:587"));
    }

    #[test]
    fn a_from_address_must_be_one() {
        let refused = Sender::new(None, "nobody", Path::new("/nowhere"), b"k").err();
        assert!(matches!(refused, Some(MailError::BadFrom(_))));
    }
}
