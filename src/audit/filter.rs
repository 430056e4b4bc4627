//! The Audit logs filter: what the GET form sends, checked. Filters live in
//! the URL so a filtered view can be bookmarked and shared.

use crate::audit::{ActionKind, RESOURCE_TYPES};
use crate::ids::UserId;
use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// The query string as typed (every field optional; empty means unset).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilterForm {
    pub from: String,
    pub to: String,
    pub user: String,
    pub resource: String,
    pub resource_id: String,
    pub action: String,
    /// Free text: matches names, emails, ids and details.
    pub q: String,
    pub cursor: String,
    pub dir: String,
}

/// A checked filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// First instant included (from-day 00:00 UTC).
    pub since: Option<OffsetDateTime>,
    /// First instant excluded (the day after to-day, 00:00 UTC).
    pub until: Option<OffsetDateTime>,
    pub user: Option<UserId>,
    pub resource: Option<&'static str>,
    pub resource_id: Option<String>,
    pub action: Option<ActionKind>,
    /// Free text the entry must contain (case-insensitively, literally).
    pub search: Option<String>,
}

/// Where a page starts: after (older than) or before (newer than) an entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub occurred_at: OffsetDateTime,
    pub id: i64,
    pub newer: bool,
}

impl Cursor {
    pub fn encode(occurred_at: OffsetDateTime, id: i64) -> String {
        format!("{}_{id}", occurred_at.unix_timestamp_nanos() / 1000)
    }

    fn decode(raw: &str, newer: bool) -> Option<Cursor> {
        let (micros, id) = raw.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let occurred_at =
            OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        if !YEARS.contains(&occurred_at.year()) {
            return None;
        }
        Some(Cursor {
            occurred_at,
            id: id.parse().ok()?,
            newer,
        })
    }
}

/// Messages for the fields that are wrong.
#[derive(Debug, Default)]
pub struct FilterErrors {
    pub from: Option<String>,
    pub to: Option<String>,
    pub user: Option<String>,
    pub resource: Option<String>,
    pub action: Option<String>,
    pub resource_id: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
}

impl FilterErrors {
    pub fn any(&self) -> bool {
        self.from.is_some()
            || self.to.is_some()
            || self.user.is_some()
            || self.resource.is_some()
            || self.action.is_some()
            || self.resource_id.is_some()
            || self.q.is_some()
            || self.cursor.is_some()
    }
}

/// Dates and cursors outside these years are refused: the log holds
/// nothing there, and PostgreSQL's timestamps end before `time`'s.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

fn date(raw: &str) -> Result<Option<Date>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            "Enter a whole date (day, month and year), or pick one from the calendar.".to_string()
        })
        .and_then(|d| match YEARS.contains(&d.year()) {
            true => Ok(Some(d)),
            false => Err("Enter a date between 1900-01-01 and 9999-12-31.".to_string()),
        })
}

fn known<T>(
    raw: &str,
    find: impl FnOnce(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    find(raw)
        .map(Some)
        .ok_or_else(|| format!("Unknown {what}: choose one from the list."))
}

fn resource_type(raw: &str) -> Option<&'static str> {
    RESOURCE_TYPES.iter().copied().find(|known| *known == raw)
}

fn account_action(raw: &str) -> Option<ActionKind> {
    ActionKind::parse(raw).filter(|kind| kind.in_account_log())
}

impl FilterForm {
    /// Trims every field (a pasted id often carries spaces).
    fn trimmed(&self) -> FilterForm {
        let t = |s: &String| s.trim().to_string();
        FilterForm {
            from: t(&self.from),
            to: t(&self.to),
            user: t(&self.user),
            resource: t(&self.resource),
            resource_id: t(&self.resource_id),
            action: t(&self.action),
            q: t(&self.q),
            cursor: t(&self.cursor),
            dir: t(&self.dir),
        }
    }

    /// The checked filter and page cursor, or what is wrong with them.
    pub fn check(&self) -> Result<(Filter, Option<Cursor>), Box<FilterErrors>> {
        let form = self.trimmed();
        let mut errors = FilterErrors::default();
        let from = date(&form.from).unwrap_or_else(|e| {
            errors.from = Some(e);
            None
        });
        let to = date(&form.to).unwrap_or_else(|e| {
            errors.to = Some(e);
            None
        });
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            errors.to = Some("The end date is before the start date.".into());
        }
        let user = match form.user.as_str() {
            "" => None,
            raw => raw.parse::<UserId>().map(Some).unwrap_or_else(|_| {
                errors.user = Some("Choose a user from the list.".into());
                None
            }),
        };
        let resource = known(&form.resource, resource_type, "resource type").unwrap_or_else(|e| {
            errors.resource = Some(e);
            None
        });
        let action = known(&form.action, account_action, "action").unwrap_or_else(|e| {
            errors.action = Some(e);
            None
        });
        if form.resource_id.chars().count() > 200 {
            errors.resource_id = Some("A resource ID is at most 200 characters.".into());
        } else if form.resource_id.chars().any(char::is_control) {
            errors.resource_id = Some("A resource ID has no control characters.".into());
        }
        if form.q.chars().count() > 200 {
            errors.q = Some("Search for at most 200 characters.".into());
        } else if form.q.chars().any(char::is_control) {
            errors.q = Some("A search has no control characters.".into());
        }
        let cursor = match form.cursor.as_str() {
            "" => None,
            raw => Cursor::decode(raw, form.dir == "newer").or_else(|| {
                errors.cursor =
                    Some("That page link is damaged: start again from the first page.".into());
                None
            }),
        };
        if errors.any() {
            return Err(Box::new(errors));
        }
        let midnight = |d: Date| d.with_time(Time::MIDNIGHT).assume_utc();
        Ok((
            Filter {
                since: from.map(midnight),
                until: to.and_then(|d| d.next_day()).map(midnight),
                user,
                resource,
                resource_id: (!form.resource_id.is_empty()).then_some(form.resource_id),
                action,
                search: (!form.q.is_empty()).then_some(form.q),
            },
            cursor,
        ))
    }

    /// This filter's URL with `changes` applied (and no cursor). An empty
    /// `base` makes a query-only link, relative to the current page.
    pub fn url(&self, base: &str, changes: &[(&'static str, &str)]) -> String {
        let keys: Vec<&'static str> = changes.iter().map(|(k, _)| *k).collect();
        let values: Vec<&str> = changes.iter().map(|(_, v)| *v).collect();
        self.link(base, &keys).with(&values)
    }

    /// This filter's URL (no cursor) with the fields `keys` left open, for
    /// the many links of a page that each add one cell's value: the rest
    /// of the query string is encoded once.
    pub fn link(&self, base: &str, keys: &[&'static str]) -> Link {
        let form = self.trimmed();
        let fields = [
            ("from", form.from.as_str()),
            ("to", &form.to),
            ("user", &form.user),
            ("resource", &form.resource),
            ("resource_id", &form.resource_id),
            ("action", &form.action),
            ("q", &form.q),
            ("cursor", ""),
            ("dir", ""),
        ];
        let parts = fields
            .into_iter()
            .filter_map(|(key, value)| match keys.iter().position(|k| *k == key) {
                Some(hole) => Some(Part::Open(key, hole)),
                None if value.is_empty() => None,
                None => {
                    let mut text = String::new();
                    push_pair(&mut text, key, value);
                    Some(Part::Fixed(text))
                }
            })
            .collect();
        Link {
            base: base.to_string(),
            parts,
        }
    }
}

/// A filter URL with some fields open; see `FilterForm::link`.
pub struct Link {
    base: String,
    parts: Vec<Part>,
}

enum Part {
    /// `key=value`, encoded.
    Fixed(String),
    /// A field and the index of its value in `Link::with`.
    Open(&'static str, usize),
}

impl Link {
    /// The URL with the open fields set to `values` (in the order the
    /// keys were given; an empty value leaves its field out).
    pub fn with(&self, values: &[&str]) -> String {
        let mut url = String::with_capacity(self.base.len() + 160);
        url.push_str(&self.base);
        let mut separator = '?';
        for part in &self.parts {
            match part {
                Part::Fixed(text) => {
                    url.push(separator);
                    url.push_str(text);
                }
                Part::Open(key, i) => match values.get(*i).filter(|v| !v.is_empty()) {
                    Some(value) => {
                        url.push(separator);
                        push_pair(&mut url, key, value);
                    }
                    None => continue,
                },
            }
            separator = '&';
        }
        if url.is_empty() {
            // A query-only link with nothing to say: the unfiltered page
            // (an empty href would keep the current query).
            url.push('?');
        }
        url
    }
}

/// Appends `key=value`, form-encoded (as `serde_urlencoded` encodes the
/// whole form).
fn push_pair(url: &mut String, key: &str, value: &str) {
    url.extend(form_urlencoded::byte_serialize(key.as_bytes()));
    url.push('=');
    url.extend(form_urlencoded::byte_serialize(value.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filter_set_their_field_and_drop_the_cursor() {
        let form = FilterForm {
            from: " 2026-11-01 ".into(),
            user: "someone".into(),
            action: "pod.created".into(),
            cursor: "123_4".into(),
            dir: "newer".into(),
            ..FilterForm::default()
        };
        let base = "/accounts/a/audit";
        assert_eq!(
            form.url(base, &[]),
            "/accounts/a/audit?from=2026-11-01&user=someone&action=pod.created"
        );
        let by_resource_id = form.link(base, &["resource", "resource_id"]);
        assert_eq!(
            by_resource_id.with(&["pod", "a b&c"]),
            "/accounts/a/audit?from=2026-11-01&user=someone&resource=pod&resource_id=a+b%26c&action=pod.created"
        );
        assert_eq!(
            form.link(base, &["user"]).with(&[""]),
            "/accounts/a/audit?from=2026-11-01&action=pod.created"
        );
        assert_eq!(
            FilterForm::default().url(base, &[("cursor", "9_1"), ("dir", "newer")]),
            "/accounts/a/audit?cursor=9_1&dir=newer"
        );
        assert_eq!(FilterForm::default().url(base, &[]), base);
        // Query-only links, as the page's cells use.
        assert_eq!(
            form.link("", &["user"]).with(&["u"]),
            "?from=2026-11-01&user=u&action=pod.created"
        );
        assert_eq!(FilterForm::default().url("", &[]), "?");
    }
}
