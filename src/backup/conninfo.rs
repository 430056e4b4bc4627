//! Keeping the database password off pg_dump's command line.
//!
//! A process's arguments are visible to every user of the machine (`ps`),
//! its environment only to its own user and root. So the URL pg_dump and
//! pg_restore get is the configured one without its password, and the
//! password goes in `PGPASSWORD`. Both forms libpq accepts are handled: a
//! `postgres://` URL (password in the user info or a `password` parameter)
//! and `key=value` pairs.

/// A connection string split for a child process.
#[derive(Debug, PartialEq, Eq)]
pub struct Conninfo {
    /// The connection string with no password in it.
    pub without_password: String,
    /// The password it held, decoded.
    pub password: Option<String>,
}

pub fn split(conninfo: &str) -> Conninfo {
    let is_url = ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| conninfo.starts_with(scheme));
    if is_url {
        split_url(conninfo)
    } else {
        split_keywords(conninfo)
    }
}

fn split_url(url: &str) -> Conninfo {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(scheme_end);
    let mut password = None;
    // libpq ends the user info at the first '@' before any '/'.
    let rest = match rest.find(['@', '/']) {
        Some(at) if rest.as_bytes()[at] == b'@' => {
            let (userinfo, host_and_more) = (&rest[..at], &rest[at..]);
            match userinfo.split_once(':') {
                Some((user, secret)) => {
                    password = Some(percent_decode(secret));
                    format!("{user}{host_and_more}")
                }
                None => rest.to_string(),
            }
        }
        _ => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((base, query)) => {
            let mut kept = Vec::new();
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("password", value)) => password = Some(percent_decode(value)),
                    _ => kept.push(pair),
                }
            }
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        None => rest,
    };
    Conninfo {
        without_password: format!("{head}{rest}"),
        password,
    }
}

/// `key = value` pairs separated by spaces; a value is bare (ending at a
/// space) or single-quoted, with backslash escapes in either.
fn split_keywords(conninfo: &str) -> Conninfo {
    let mut pairs = Vec::new();
    let mut password = None;
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if_eq(&'\'').is_some();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' if quoted => break,
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        if key == "password" {
            password = Some(value);
        } else {
            pairs.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Conninfo {
        without_password: pairs.join(" "),
        password,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_of(conninfo: &str) -> (String, Option<String>) {
        let c = split(conninfo);
        (c.without_password, c.password)
    }

    #[test]
    fn a_url_loses_its_password_and_keeps_the_rest() {
        assert_eq!(
            split_of("postgres://owner:s%40cret%3Ax@db.example:5433/console?sslmode=require"),
            (
                "postgres://owner@db.example:5433/console?sslmode=require".into(),
                Some("s@cret:x".into())
            )
        );
        assert_eq!(
            split_of("postgresql://app@/team_console?host=/run/pg&password=p%20w&port=5432"),
            (
                "postgresql://app@/team_console?host=/run/pg&port=5432".into(),
                Some("p w".into())
            )
        );
        assert_eq!(
            split_of("postgres://postgres@/db?host=%2Ftmp%2Frun&port=5432"),
            (
                "postgres://postgres@/db?host=%2Ftmp%2Frun&port=5432".into(),
                None
            )
        );
        assert_eq!(
            split_of("postgres://localhost/db"),
            ("postgres://localhost/db".into(), None)
        );
    }

    #[test]
    fn keyword_pairs_lose_their_password_quoted_or_not() {
        assert_eq!(
            split_of("host=db user=owner password='a \\'b\\' c' dbname = console"),
            (
                "host='db' user='owner' dbname='console'".into(),
                Some("a 'b' c".into())
            )
        );
        assert_eq!(
            split_of("password=plain host=db"),
            ("host='db'".into(), Some("plain".into()))
        );
    }
}
