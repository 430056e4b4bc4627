//! Mail (SPEC §14): letters are composed and queued in the outbox table
//! inside the transaction of the change that causes them (`queue`), and
//! sent afterwards by `deliver_due`, which the console runs every few
//! seconds and tests call directly. A message is claimed with `FOR UPDATE
//! SKIP LOCKED`, so one console sends it however many serve; a refusal
//! for a while (4xx, the server down) is retried with back-off, so an
//! outage delays mail and loses none. Without `SMTP_URL` the messages
//! are written to `DATA_DIR/outbox/` as `.eml` files.
//!
//! No HTTP here: the letters are rendered from askama templates under
//! `templates/mail/` (`letters`), the only module of this area that names
//! askama.

pub mod letters;
pub mod outbox;
pub mod transport;

pub use letters::Letter;
pub use outbox::{DeliveryReport, Outbox, Seal, deliver_due};
pub use transport::{SendError, Sender};

/// How often the console looks for mail to send.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What the mail area refuses when it is set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL is not a mail server URL: {0}")]
    BadUrl(String),
    #[error("MAIL_FROM is not an email address: {0}")]
    BadFrom(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(MailError);
