//! The letters the console writes, each with a plain-text part and a
//! simple HTML part rendered from `templates/mail/` (askama escapes the
//! HTML part; the text part is not HTML and is not escaped). Links are
//! absolute, built from PUBLIC_URL by the caller.

use askama::Template;

/// A message ready for the outbox.
#[derive(Debug, Clone)]
pub struct Letter {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetText<'a> {
    r: &'a PasswordReset<'a>,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct ResetHtml<'a> {
    r: &'a PasswordReset<'a>,
}

/// The link to set a new password.
pub struct PasswordReset<'a> {
    pub name: &'a str,
    pub link: &'a str,
    pub minutes: i64,
}

impl PasswordReset<'_> {
    pub fn letter(&self, to: &str) -> Letter {
        compose(
            to,
            "Reset your Team Console password",
            ResetText { r: self }.render(),
            ResetHtml { r: self }.render(),
        )
    }
}

#[derive(Template)]
#[template(path = "mail/invite.txt")]
struct InviteText<'a> {
    i: &'a Invite<'a>,
}

#[derive(Template)]
#[template(path = "mail/invite.html")]
struct InviteHtml<'a> {
    i: &'a Invite<'a>,
}

/// An invite to join a team, for the email it was made for.
pub struct Invite<'a> {
    pub team: &'a str,
    pub inviter: &'a str,
    pub role: &'a str,
    pub link: &'a str,
    /// "3 Dec 2026 14:00 UTC".
    pub expires: &'a str,
}

impl Invite<'_> {
    pub fn letter(&self, to: &str) -> Letter {
        compose(
            to,
            &format!(
                "{} invites you to {} on Team Console",
                self.inviter, self.team
            ),
            InviteText { i: self }.render(),
            InviteHtml { i: self }.render(),
        )
    }
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    n: &'a Notice<'a>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    n: &'a Notice<'a>,
}

/// A security notice: something changed on the account, or someone
/// signed in from somewhere new; what to do if it was not them.
pub struct Notice<'a> {
    pub name: &'a str,
    /// "Your password was changed", the subject too.
    pub headline: &'a str,
    /// Sentences saying what happened, when and from where.
    pub lines: Vec<String>,
    /// Where to reset the password if it was not them.
    pub reset_link: String,
}

impl Notice<'_> {
    pub fn letter(&self, to: &str) -> Letter {
        compose(
            to,
            &format!("Team Console: {}", self.headline),
            NoticeText { n: self }.render(),
            NoticeHtml { n: self }.render(),
        )
    }
}

/// The letter, or (if a template failed, which only a bug can make) the
/// text as the HTML part too, so no mail is lost to a rendering error.
fn compose(
    to: &str,
    subject: &str,
    text: askama::Result<String>,
    html: askama::Result<String>,
) -> Letter {
    let text = text.unwrap_or_else(|e| format!("(this message could not be written: {e})"));
    let html = html.unwrap_or_else(|_| format!("<pre>{}</pre>", escape(&text)));
    Letter {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
        html,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_part_escapes_names_the_text_part_keeps_them() {
        let letter = Invite {
            team: "<b>Labs</b>",
            inviter: "Ada & Co",
            role: "Dev",
            link: "https://console.example.com/invites/abc",
            expires: "3 Dec 2026 14:00 UTC",
        }
        .letter("bob@example.com");
        assert!(letter.text.contains("<b>Labs</b>"));
        assert!(!letter.html.contains("<b>Labs"), "{}", letter.html);
        assert!(!letter.html.contains("Ada & Co"), "{}", letter.html);
        assert!(letter.html.contains("Labs"));
        assert!(
            letter
                .text
                .contains("https://console.example.com/invites/abc")
        );
        assert_eq!(
            letter.subject,
            "Ada & Co invites you to <b>Labs</b> on Team Console"
        );
    }
}
