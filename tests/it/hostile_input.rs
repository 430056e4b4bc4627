//! Issue 20, item 8: every route of the app, sent hostile input in each
//! field, query parameter and path segment it reads — one at a time, the
//! others valid, so the hostile value is what the handler has to deal with.
//!
//! Whatever arrives, the console must answer below 500, finish what it
//! streams, store nothing half-way when it refuses, and log no ERROR: an
//! ERROR is a page for whoever is on call, and a visitor's typing must not
//! be able to cause one. The table of what each route reads is written
//! here from the handlers; a route the app has that the table lacks fails
//! the test, so no new route escapes it.
//!
//! Values are sent as raw percent-encoded bytes (query strings and form
//! bodies built by hand), so that invalid UTF-8, NUL and lone surrogates
//! reach the server as such, and POSTs carry the session's CSRF token, so
//! that they reach the handler rather than stop at the CSRF check.

use diesel::prelude::*;
use diesel::sql_types::Text;
use team_console::authz::Role;
use uuid::Uuid;

use crate::support::{self, Browser, PASSWORD, TestApp, TestUser};

/// Who sends a route's requests, and how much is arranged afresh for each.
#[derive(Clone, Copy)]
enum Who {
    /// A signed-out visitor, the same browser for every request.
    SignedOut,
    /// A signed-out visitor with a browser of its own for each request:
    /// a valid sign-in or sign-up signs that browser in.
    NewVisitor,
    /// A user signed in afresh for each request: sign-out ends the session.
    NewSession,
    /// The Admin of the team in the path (a fresh team per route, reused
    /// across values: a refused request changes nothing to reuse).
    Admin,
    /// The owner and Admin of a personal account, a fresh one for each
    /// request: a conversion that succeeds would refuse every later one
    /// before the form is read.
    NewPersonalOwner,
    /// A signed-in non-member who opened the team's invite link (one per
    /// route).
    InviteHolder,
    /// The same, with a fresh team and invite for each request: joining
    /// uses the invite up.
    NewInviteHolder,
    /// A user signed up afresh for each request: a valid email or password
    /// change is theirs alone.
    NewUser,
    /// A browser half signed in (the password was right, the code is to
    /// come), a fresh one for each request: a valid code signs it in.
    NewPendingSignIn,
    /// A signed-out browser holding a working password reset link of a
    /// user signed up afresh for each request: a valid password uses it.
    NewResetHolder,
    /// A script with an API key of every scope for the team in the path
    /// (a fresh team and key per route), no cookies.
    ApiKey,
}

/// What a route reads besides its path segments: the query parameters of
/// a GET or the form fields of a POST, each with a valid value (`""`:
/// left out while another field is hostile). Placeholders: `{fresh_email}`
/// (an unused address), `{user_email}` (the signing-in user's), `{password}`,
/// `{target}` (the id of the fixture's Basic member).
struct Reads {
    who: Who,
    fields: &'static [(&'static str, &'static str)],
}

const NOTHING: &[(&str, &str)] = &[];

/// The handlers' `Deserialize` structs, route by route.
fn reads(method: &str, path: &str) -> Option<Reads> {
    use Who::*;
    let r = |who, fields| Some(Reads { who, fields });
    match (method, path) {
        ("GET", "/") => r(Admin, NOTHING),
        ("GET", "/sign-up") => r(SignedOut, &[("next", "/")]),
        ("POST", "/sign-up") => r(
            NewVisitor,
            &[
                ("email", "{fresh_email}"),
                ("display_name", "Hostile Input"),
                ("password", "{password}"),
                ("next", ""),
            ],
        ),
        ("GET", "/sign-in") => r(SignedOut, &[("next", "/"), ("signed_out", "")]),
        ("POST", "/sign-in") => r(
            NewVisitor,
            &[
                ("email", "{user_email}"),
                ("password", "{password}"),
                ("next", ""),
            ],
        ),
        ("POST", "/sign-out") => r(NewSession, NOTHING),
        ("GET", "/sign-in/two-factor") => r(SignedOut, NOTHING),
        ("POST", "/sign-in/two-factor") => r(NewPendingSignIn, &[("code", "123456")]),
        ("GET", "/forgot-password") => r(SignedOut, NOTHING),
        ("POST", "/forgot-password") => r(NewVisitor, &[("email", "{user_email}")]),
        ("GET", "/reset-password/{token}") => r(NewResetHolder, NOTHING),
        ("POST", "/reset-password/{token}") => r(
            NewResetHolder,
            &[("password", "quartz lantern meadow 42 ferry"), ("code", "")],
        ),
        ("GET", "/profile") => r(Admin, NOTHING),
        ("POST", "/profile/name") => r(Admin, &[("display_name", "Hostile Admin")]),
        ("POST", "/profile/email") => r(
            NewUser,
            &[("email", "{fresh_email}"), ("password", "{password}")],
        ),
        ("POST", "/profile/password") => r(
            NewUser,
            &[
                ("current_password", "{password}"),
                ("new_password", "quartz lantern meadow 42 ferry"),
            ],
        ),
        ("GET", "/profile/two-factor") => r(Admin, &[("next", "/profile")]),
        ("POST", "/profile/two-factor") => r(Admin, &[("code", "123456"), ("next", "")]),
        ("POST", "/profile/two-factor/disable" | "/profile/recovery-codes") => r(Admin, NOTHING),
        ("POST", "/profile/sessions/{session_id}/end") => r(Admin, NOTHING),
        ("POST", "/profile/sessions/end-others") => r(NewSession, NOTHING),
        ("POST", "/accounts/{account_id}/settings/two-factor") => {
            r(Admin, &[("require", "on"), ("confirm", "yes")])
        }
        ("GET", "/profile/export" | "/profile/delete") => r(Admin, NOTHING),
        // Only ever refused here (hostile input is never the person's
        // email): a fresh user each time all the same.
        ("POST", "/profile/delete") => r(NewUser, &[("confirm_email", "{user_email}")]),
        ("GET", "/accounts/{account_id}/delete") => r(Admin, NOTHING),
        // Hostile input is never the team's name: refused, the team kept.
        ("POST", "/accounts/{account_id}/delete") => r(Admin, &[("confirm_name", "Hostile Team")]),
        // The team has another member: refused (409), the team kept.
        ("POST", "/accounts/{account_id}/revert") => r(Admin, NOTHING),
        ("GET", "/accounts/{account_id}") => r(Admin, NOTHING),
        ("GET", "/accounts/{account_id}/convert") => r(NewPersonalOwner, NOTHING),
        ("POST", "/accounts/{account_id}/convert") => r(
            NewPersonalOwner,
            &[("name", "Hostile Team"), ("confirm", "yes")],
        ),
        ("GET", "/accounts/{account_id}/settings") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/settings") => r(Admin, &[("name", "Hostile Team")]),
        ("GET", "/accounts/{account_id}/members") => r(Admin, &[("two_factor", "off")]),
        ("POST", "/accounts/{account_id}/members/{user_id}/role") => r(Admin, &[("role", "dev")]),
        (_, "/accounts/{account_id}/members/{user_id}/remove") => r(Admin, NOTHING),
        (_, "/accounts/{account_id}/leave") => r(Admin, NOTHING),
        ("GET", "/accounts/{account_id}/invites/new") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/invites") => r(
            Admin,
            &[
                ("role", "basic"),
                ("email", "invitee@example.com"),
                ("lifetime_hours", "24"),
            ],
        ),
        ("POST", "/accounts/{account_id}/invites/{invite_id}/regenerate") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/invites/{invite_id}/resend") => r(Admin, NOTHING),
        (_, "/accounts/{account_id}/invites/{invite_id}/revoke") => r(Admin, NOTHING),
        ("GET", "/accounts/{account_id}/audit" | "/accounts/{account_id}/audit.csv") => r(
            Admin,
            &[
                ("from", ""),
                ("to", ""),
                ("user", ""),
                ("resource", ""),
                ("resource_id", ""),
                ("action", ""),
                ("cursor", ""),
                ("dir", ""),
            ],
        ),
        ("GET", "/invites/{token}") => r(InviteHolder, NOTHING),
        ("GET", "/invite") => r(InviteHolder, NOTHING),
        ("POST", "/invite/accept") => r(NewInviteHolder, NOTHING),
        ("GET", "/accounts/{account_id}/pods") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/pods") => r(
            Admin,
            &[
                ("name", "Hostile Pod"),
                ("gpu_type", "rtx-4090"),
                ("gpu_count", "1"),
                ("image", "pytorch/pytorch:latest"),
            ],
        ),
        ("GET", "/accounts/{account_id}/pods/{pod_id}/connect") => r(Admin, NOTHING),
        (
            _,
            "/accounts/{account_id}/pods/{pod_id}/start"
            | "/accounts/{account_id}/pods/{pod_id}/stop"
            | "/accounts/{account_id}/pods/{pod_id}/terminate",
        ) => r(Admin, NOTHING),
        // `before` and `after` exclude each other: each is sent alone.
        ("GET", "/accounts/{account_id}/billing") => r(Admin, &[("before", ""), ("after", "")]),
        ("POST", "/accounts/{account_id}/billing/funds") => r(Admin, &[("amount", "25")]),
        ("POST", "/accounts/{account_id}/billing/email") => {
            r(Admin, &[("email", "billing@example.com")])
        }
        ("GET", "/accounts/{account_id}/billing/usage") => r(Admin, &[("month", "2026-11")]),
        ("GET", "/accounts/{account_id}/billing/spend") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/billing/spend/budget") => r(Admin, &[("budget", "2000")]),
        ("POST", "/accounts/{account_id}/billing/spend/roles") => r(
            Admin,
            &[
                ("limit_basic", "0"),
                ("limit_billing", ""),
                ("limit_dev", "500"),
                ("limit_admin", ""),
            ],
        ),
        ("POST", "/accounts/{account_id}/billing/spend/members") => {
            r(Admin, &[("member", "{target}"), ("limit", "800")])
        }
        ("POST", "/accounts/{account_id}/billing/spend/quotas") => r(
            Admin,
            &[
                ("role", "dev"),
                ("rtx-4090", "8"),
                ("l40s", ""),
                ("a100-80gb", "4"),
                ("h100-80gb", "0"),
            ],
        ),
        ("POST", "/accounts/{account_id}/billing/spend/member-quotas") => r(
            Admin,
            &[
                ("member", "{target}"),
                ("rtx-4090", "2"),
                ("l40s", ""),
                ("a100-80gb", "1"),
                ("h100-80gb", ""),
            ],
        ),
        ("GET", "/healthz" | "/readyz" | "/static/{file}") => r(SignedOut, NOTHING),
        ("GET", "/accounts/{account_id}/settings/api-keys") => r(Admin, NOTHING),
        ("POST", "/accounts/{account_id}/settings/api-keys") => r(
            Admin,
            &[
                ("name", "Hostile Key"),
                ("pods:read", "on"),
                ("lifetime_days", "30"),
            ],
        ),
        // The first valid request revokes the key; the rest are 409.
        ("POST", "/accounts/{account_id}/settings/api-keys/{key_id}/revoke") => r(Admin, NOTHING),
        ("GET", "/accounts/{account_id}/settings/audit-streaming") => r(Admin, NOTHING),
        // An address literal (no DNS); tests allow private addresses. Past
        // the third destination the rest are 409.
        ("POST", "/accounts/{account_id}/settings/audit-streaming") => r(
            Admin,
            &[
                ("url", "https://192.0.2.10/team-console"),
                ("secret", "a shared secret for hostile input"),
            ],
        ),
        // The destination is not failing: 409.
        ("POST", "/accounts/{account_id}/settings/audit-streaming/{destination_id}/retry") => {
            r(Admin, NOTHING)
        }
        // The first valid request removes the destination; the rest are 404.
        ("POST", "/accounts/{account_id}/settings/audit-streaming/{destination_id}/remove") => {
            r(Admin, NOTHING)
        }
        ("GET", "/api/v1/openapi.json") => r(SignedOut, NOTHING),
        ("GET", "/api/v1/accounts/{account_id}/audit") => r(
            ApiKey,
            &[
                ("from", ""),
                ("to", ""),
                ("user", ""),
                ("resource", ""),
                ("resource_id", ""),
                ("action", ""),
                ("q", ""),
                ("cursor", ""),
                ("limit", "10"),
            ],
        ),
        (
            "GET",
            "/api/v1/accounts/{account_id}/members"
            | "/api/v1/accounts/{account_id}/pods"
            | "/api/v1/accounts/{account_id}/billing",
        ) => r(ApiKey, NOTHING),
        // Sent as a JSON object (numbers as numbers while they are valid).
        ("POST", "/api/v1/accounts/{account_id}/invites") => r(
            ApiKey,
            &[
                ("role", "basic"),
                ("email", "invitee@example.com"),
                ("lifetime_hours", "24"),
            ],
        ),
        ("DELETE", "/api/v1/accounts/{account_id}/invites/{invite_id}") => r(ApiKey, NOTHING),
        (
            "POST",
            "/api/v1/accounts/{account_id}/pods/{pod_id}/start"
            | "/api/v1/accounts/{account_id}/pods/{pod_id}/stop",
        ) => r(ApiKey, NOTHING),
        _ => None,
    }
}

/// A route that reads neither a field nor a path segment still gets the
/// hostile values, in a parameter it does not read: extractors and
/// middleware see the whole query string or body all the same.
const UNREAD: &str = "unread";

/// One hostile value: how the report names it, and its bytes on the wire
/// (ASCII, percent-encoded where the raw byte would not be sent as is).
struct Hostile {
    name: String,
    wire: String,
    /// Sent in path segments too, not only in fields.
    in_paths: bool,
}

fn hostile(wire: impl Into<String>) -> Hostile {
    let wire = wire.into();
    Hostile {
        name: wire.clone(),
        wire,
        in_paths: true,
    }
}

/// `len` letters and digits from a fixed pseudo-random sequence: long and
/// incompressible, as a value typed or pasted would be (a run of one
/// letter compresses to nothing in PostgreSQL, hiding size limits).
fn long(len: usize) -> Hostile {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let wire = (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(state >> 33) as usize % ALPHABET.len()] as char
        })
        .collect();
    Hostile {
        name: format!("<{len} letters and digits>"),
        wire,
        in_paths: true,
    }
}

/// The list. `real` is an existing id, for cursor-shaped values
/// whose id part is well formed.
///
/// 60,000 characters is about the longest that fits the 64 KiB form limit
/// and the http crate's 64 KiB URI limit, so a long value reaches the
/// handlers (100,000 is refused before them, with a 400). It is not sent
/// in path segments: there the router alone takes up to two seconds over
/// it in a debug build, for each of some thirty segments, and a segment
/// is an id that 3,000 characters already test.
fn hostile_values(real: Uuid) -> Vec<Hostile> {
    vec![
        hostile("abc%00def"),
        hostile("%ff%fe"),
        hostile("%C0%80"),
        hostile("%ED%A0%80"),
        long(3_000),
        Hostile {
            in_paths: false,
            ..long(60_000)
        },
        long(100_000),
        hostile("line%0D%0ASet-Cookie:%20injected=1"),
        hostile("abc%E2%80%AEdef%E2%81%A6ghi"),
        hostile("'%3B%20--"),
        hostile("%25_%5C"),
        hostile("..%2F..%2Fetc%2Fpasswd"),
        hostile("-1"),
        hostile("-300000000000000000"),
        hostile("99999999999999999999999"),
        hostile("-9999-01-01"),
        hostile("9999-99-99"),
        hostile("-300000000000000000_1"),
        hostile(format!("-300000000000000000_{real}")),
    ]
}

/// What the requests of one route (or one request) act on.
struct Fixture {
    browser: Browser,
    account: Uuid,
    /// A Basic member that role changes and removal target.
    target: Uuid,
    invite: Uuid,
    /// The token of an invite link the browser holds, if any.
    token: String,
    pod: Uuid,
    /// An API key of the team, and its secret when requests use it.
    key: Uuid,
    secret: Option<String>,
    /// An audit stream destination of the team.
    destination: Uuid,
}

/// The people every route's fixture draws on.
struct People {
    admin: TestUser,
    target: TestUser,
    /// Signs in (sign-in's valid email) and out (a fresh session each time).
    regular: TestUser,
    /// A non-member who holds invite links.
    outsider: TestUser,
    /// Has two-factor sign-in: signing in stops at the code page.
    two_factor: TestUser,
    signed_out: Browser,
}

/// Arrange: what `who` sends from and acts on, inserted directly where the
/// way it is made is not under test (teams, members, Pods, invites whose
/// link is not needed), through the forms where a session must hold it.
async fn arrange(app: &TestApp, people: &People, who: Who) -> Fixture {
    let mut fixture = Fixture {
        browser: people.admin.browser.clone(),
        account: people.admin.personal_account_id,
        target: people.target.user_id,
        invite: Uuid::nil(),
        token: "A".repeat(43),
        pod: Uuid::nil(),
        key: Uuid::nil(),
        secret: None,
        destination: Uuid::nil(),
    };
    match who {
        Who::SignedOut => fixture.browser = people.signed_out.clone(),
        Who::NewVisitor => fixture.browser = app.browser(),
        Who::NewUser => fixture.browser = app.signed_up_user("Hostile User").await.browser,
        Who::NewPendingSignIn => {
            let browser = app.browser();
            let res = browser.sign_in(&people.two_factor.email, PASSWORD).await;
            assert_eq!(support::location(&res), "/sign-in/two-factor");
            fixture.browser = browser;
        }
        Who::NewResetHolder => {
            let user = app.signed_up_user("Hostile Reset").await;
            let link = team_console::accounts::reset::operator_link(
                &mut app.conn(),
                &user.email,
                time::OffsetDateTime::now_utc(),
                &app.address,
            )
            .unwrap()
            .expect("a reset link");
            fixture.browser = app.browser();
            fixture.token = link.rsplit('/').next().unwrap().to_string();
        }
        Who::NewSession => {
            let browser = app.browser();
            let res = browser.sign_in(&people.regular.email, PASSWORD).await;
            assert!(res.status().is_redirection(), "sign-in for sign-out");
            fixture.browser = browser;
        }
        Who::Admin | Who::ApiKey => {
            let team = app.insert_team(people.admin.user_id, "Hostile Team");
            app.add_member(team, people.target.user_id, Role::Basic);
            fixture.account = team;
            fixture.invite = crate::matrix::insert_invite(app, team, people.admin.user_id);
            fixture.pod = app.insert_pod(team, "Hostile Pod");
            let secret = app.insert_api_key(
                team,
                people.admin.user_id,
                "Hostile Key",
                &[
                    "audit:read",
                    "members:read",
                    "invites:write",
                    "pods:read",
                    "pods:write",
                    "billing:read",
                ],
            );
            fixture.key = app.api_key_id(&secret);
            fixture.destination = app.insert_stream_destination(
                team,
                people.admin.user_id,
                "https://192.0.2.10/hostile",
                "a shared secret for hostile input",
            );
            if matches!(who, Who::ApiKey) {
                fixture.browser = people.signed_out.clone();
                fixture.secret = Some(secret);
            }
        }
        Who::NewPersonalOwner => {
            fixture.account = insert_personal_account(app, people.admin.user_id);
        }
        Who::InviteHolder | Who::NewInviteHolder => {
            let team = app.insert_team(people.admin.user_id, "Hostile Team");
            let link = app
                .create_invite(&people.admin.browser, team, "basic", "")
                .await;
            let res = app.open_invite(&people.outsider.browser, &link).await;
            assert!(res.status().is_redirection(), "the invite link opens");
            fixture.browser = people.outsider.browser.clone();
            fixture.account = team;
            fixture.token = link.rsplit('/').next().unwrap().to_string();
        }
    }
    fixture
}

/// Arrange: another personal account of `owner`, inserted directly.
fn insert_personal_account(app: &TestApp, owner: Uuid) -> Uuid {
    use team_console::db::schema::accounts;
    let id = Uuid::new_v4();
    diesel::insert_into(accounts::table)
        .values((
            accounts::id.eq(id),
            accounts::kind.eq("personal"),
            accounts::name.eq("Hostile Personal"),
            accounts::owner_id.eq(owner),
        ))
        .execute(&mut app.conn())
        .unwrap();
    app.add_member(id, owner, Role::Admin);
    id
}

/// The `{name}` segments of a route pattern.
fn path_params(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The route's path with the fixture's ids, or `hostile` in one segment.
fn fill(pattern: &str, f: &Fixture, hostile: Option<(&str, &str)>) -> String {
    pattern
        .split('/')
        .map(|segment| {
            let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return segment.to_string();
            };
            if let Some((_, wire)) = hostile.filter(|(h, _)| *h == name) {
                return wire.to_string();
            }
            match name {
                "account_id" => f.account.to_string(),
                "user_id" => f.target.to_string(),
                "invite_id" => f.invite.to_string(),
                "token" => f.token.clone(),
                "pod_id" => f.pod.to_string(),
                "key_id" => f.key.to_string(),
                "destination_id" => f.destination.to_string(),
                "session_id" => Uuid::nil().to_string(),
                "file" => "app.css".to_string(),
                other => panic!("no valid value for the path segment {{{other}}}"),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `name=value&…` with the valid values encoded and `hostile` as is.
fn params(
    fields: &[(&str, &str)],
    hostile: Option<(&str, &str)>,
    user_email: &str,
    target: Uuid,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, valid) in fields {
        if let Some((_, wire)) = hostile.filter(|(h, _)| h == name) {
            out.push(format!("{name}={wire}"));
            continue;
        }
        let value = match *valid {
            "{fresh_email}" => format!("hostile-{}@example.com", Uuid::new_v4().simple()),
            "{user_email}" => user_email.to_string(),
            "{password}" => PASSWORD.to_string(),
            "{target}" => target.to_string(),
            "" => continue,
            other => other.to_string(),
        };
        out.push(format!("{name}={}", encode(&value)));
    }
    if let Some((UNREAD, wire)) = hostile {
        out.push(format!("{UNREAD}={wire}"));
    }
    out
}

/// What came back for one request.
struct Answer {
    status: u16,
    body: String,
    /// Why the body did not arrive whole, if it did not.
    broke_off: Option<String>,
}

/// Percent-decodes a value as sent on the wire (`+` stays itself).
fn decode(wire: &str) -> Vec<u8> {
    let bytes = wire.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The API's JSON body for `name=wire` params: each value as a JSON
/// string of its raw bytes (invalid UTF-8 makes invalid JSON, as a careless
/// client would send), a number where the value is one.
fn json_body(params: &[String]) -> Vec<u8> {
    let mut body = b"{".to_vec();
    for (n, param) in params.iter().enumerate() {
        let (name, wire) = param.split_once('=').unwrap_or((param, ""));
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(serde_json::to_string(name).unwrap().as_bytes());
        body.push(b':');
        let value = decode(wire);
        match std::str::from_utf8(&value) {
            Ok(text) if name == "lifetime_hours" && text.parse::<i64>().is_ok() => {
                body.extend_from_slice(text.as_bytes())
            }
            Ok(text) => body.extend_from_slice(serde_json::to_string(text).unwrap().as_bytes()),
            Err(_) => {
                body.push(b'"');
                body.extend_from_slice(&value);
                body.push(b'"');
            }
        }
    }
    body.push(b'}');
    body
}

/// Sends the request exactly as built: a hand-made URL for GET, a hand-made
/// body (plus the session's CSRF token) for POST; with an API key, the key
/// and a JSON body. `Err`: no answer at all.
async fn send(
    browser: &Browser,
    key: Option<&str>,
    method: &str,
    path: &str,
    mut params: Vec<String>,
) -> Result<Answer, String> {
    let mut url = browser.url(path);
    let mut body: Option<Vec<u8>> = None;
    match method {
        "GET" if !params.is_empty() => url = format!("{url}?{}", params.join("&")),
        "GET" => {}
        "POST" | "DELETE" if key.is_some() => body = Some(json_body(&params)),
        "POST" => {
            params.push(format!("csrf_token={}", encode(&browser.csrf().await)));
            body = Some(params.join("&").into_bytes());
        }
        other => panic!("no test for method {other}"),
    }
    let content_type = if key.is_some() {
        "application/json"
    } else {
        FORM
    };
    let mut request = match &body {
        None => browser.client.get(&url),
        Some(body) => browser
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &url,
            )
            .header("content-type", content_type)
            .body(body.clone()),
    };
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let res = match request.send().await {
        Ok(res) => res,
        // The http crate under reqwest refuses URIs of 64 KiB and more; a
        // client that does not care sends them all the same.
        Err(e) if e.is_builder() => {
            return send_raw(browser, key, method, &url, body.as_deref(), content_type);
        }
        Err(e) => return Err(format!("{e} ({:?})", std::error::Error::source(&e))),
    };
    let status = res.status().as_u16();
    // Read to the end: a stream that breaks off fails here.
    let (body, broke_off) = match res.bytes().await {
        Ok(body) => (String::from_utf8_lossy(&body).into_owned(), None),
        Err(e) => (String::new(), Some(e.to_string())),
    };
    Ok(Answer {
        status,
        body,
        broke_off,
    })
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A request written by hand on a connection of its own (HTTP/1.1, closed
/// after the answer), with the browser's cookies.
fn send_raw(
    browser: &Browser,
    key: Option<&str>,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    content_type: &str,
) -> Result<Answer, String> {
    use std::io::{Read, Write};
    let host = browser.base.trim_start_matches("http://");
    let target = &url[browser.base.len()..];
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(cookie) = browser.cookie_header() {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    let mut request = format!("{head}\r\n").into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    let timeout = Some(std::time::Duration::from_secs(30));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    // The server may answer and close before it has read everything.
    let written = stream.write_all(&request);
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        return Err(format!("no answer (write: {written:?}, read: {read:?})"));
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {}", &head[..head.len().min(100)]))?;
    let head = head.to_ascii_lowercase();
    let whole = if head.contains("transfer-encoding: chunked") {
        body.ends_with("0\r\n\r\n")
    } else {
        head.lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_none_or(|n| n == body.len())
    };
    Ok(Answer {
        status,
        body: body.to_string(),
        broke_off: (!whole || read.is_err()).then(|| format!("read: {read:?}")),
    })
}

/// The domain tables, compared whole before and after a refused request.
const DOMAIN_TABLES: [&str; 15] = [
    "users",
    "accounts",
    "memberships",
    "invites",
    "pods",
    "billing_transactions",
    "team_budgets",
    "role_spend_limits",
    "member_spend_limits",
    "role_gpu_quotas",
    "member_gpu_quotas",
    "monthly_usage",
    "spend_alerts",
    "mail_outbox",
    "password_resets",
];

#[derive(QueryableByName, PartialEq)]
struct Digest {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A digest of every row of every domain table.
fn snapshot(conn: &mut PgConnection) -> Vec<Digest> {
    let sql = DOMAIN_TABLES
        .iter()
        .map(|t| {
            format!(
                "SELECT '{t}' AS name, \
                 coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS digest \
                 FROM {t} t"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    diesel::sql_query(sql).load(conn).unwrap()
}

/// The request id a 5xx page shows ("Reference: …").
fn reference(body: &str) -> Option<&str> {
    let rest = body.split_once("Reference: <code>")?.1;
    Some(rest.split_once("</code>")?.0)
}

/// ERROR lines written while one request of this test was answered. The
/// log is shared by every test of the run: a line naming a request id is
/// this request's only if it is the id its error page showed; a line
/// without one (a failure mid-stream, actix's own) is taken as this
/// request's, since it appeared while the request was in flight.
fn errors_of(logs: &str, reference: Option<&str>) -> Vec<String> {
    logs.lines()
        .filter(|line| line.contains(" ERROR "))
        .filter(|line| {
            // The request's span names it first: `request{request_id=…}:`.
            match line.split_once("request_id=").map(|(_, rest)| {
                let end = rest
                    .find(|c: char| !c.is_ascii_hexdigit())
                    .unwrap_or(rest.len());
                &rest[..end]
            }) {
                Some(id) => Some(id) == reference,
                None => true,
            }
        })
        .map(|line| line.chars().take(400).collect())
        .collect()
}

/// What is wrong with one answer: no answer at all, a body that broke
/// off, a 5xx, rows changed by a refused request (`before` and `after`
/// are the domain tables' digests), ERROR lines in `logs` (those written
/// while it was answered).
fn problems_with(
    answer: &Result<Answer, String>,
    before: &[Digest],
    after: &[Digest],
    logs: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let answer = match answer {
        Ok(answer) => Some(answer),
        Err(e) => {
            problems.push(format!("no answer: {e}"));
            None
        }
    };
    if let Some(e) = answer.and_then(|a| a.broke_off.as_ref()) {
        problems.push(format!("the body broke off: {e}"));
    }
    if answer.is_some_and(|a| a.status >= 500) {
        problems.push("a server error".into());
    }
    if answer.is_none_or(|a| a.status >= 400) {
        let changed: Vec<&str> = before
            .iter()
            .zip(after)
            .filter(|(b, a)| b != a)
            .map(|(b, _)| b.name.as_str())
            .collect();
        if !changed.is_empty() {
            problems.push(format!(
                "refused, yet rows changed in {}",
                changed.join(", ")
            ));
        }
    }
    let reference = answer.and_then(|a| reference(&a.body));
    for line in errors_of(logs, reference) {
        problems.push(format!("logged: {line}"));
    }
    problems
}

/// Which fields of a route a case makes hostile, for the report.
enum Slot {
    Field(&'static str),
    Segment(&'static str),
    Unread,
}

impl Slot {
    fn name(&self) -> String {
        match self {
            Slot::Field(name) => (*name).to_string(),
            Slot::Segment(name) => format!("{{{name}}}"),
            Slot::Unread => format!("{UNREAD} (a parameter the route does not read)"),
        }
    }
}

#[actix_web::test]
async fn no_route_fails_stores_half_or_logs_an_error_on_hostile_input() {
    // Arrange
    let app = TestApp::spawn().await;
    let people = People {
        admin: app.signed_up_user("Hostile Admin").await,
        target: app.signed_up_user("Hostile Target").await,
        regular: app.signed_up_user("Hostile Regular").await,
        outsider: app.signed_up_user("Hostile Outsider").await,
        two_factor: {
            let user = app.signed_up_user("Hostile Two Factor").await;
            support::two_factor::enable(&user, time::OffsetDateTime::now_utc()).await;
            user
        },
        signed_out: app.browser(),
    };
    let values = hostile_values(people.admin.personal_account_id);
    let mut db = app.conn();
    let mut failures = Vec::new();
    let mut sent = 0;

    for route in team_console::routes::all() {
        let label = format!("{} {}", route.method, route.path);
        let Some(reads) = reads(route.method, route.path) else {
            failures.push(format!("{label}: not in the hostile-input table"));
            continue;
        };
        let mut slots: Vec<Slot> = reads.fields.iter().map(|&(n, _)| Slot::Field(n)).collect();
        slots.extend(path_params(route.path).into_iter().map(Slot::Segment));
        if slots.is_empty() {
            slots.push(Slot::Unread);
        }
        let fresh_each_time = matches!(
            reads.who,
            Who::NewVisitor
                | Who::NewSession
                | Who::NewPersonalOwner
                | Who::NewInviteHolder
                | Who::NewUser
                | Who::NewPendingSignIn
                | Who::NewResetHolder
        );
        let mut fixture = arrange(&app, &people, reads.who).await;
        // The domain tables as they stand, while nothing but this test's
        // requests changes them (arranging does: forget it then).
        let mut known: Option<Vec<Digest>> = None;

        for slot in &slots {
            for value in &values {
                if matches!(slot, Slot::Segment(_)) && !value.in_paths {
                    continue;
                }
                if fresh_each_time {
                    fixture = arrange(&app, &people, reads.who).await;
                    known = None;
                }
                let (in_path, in_params) = match slot {
                    Slot::Segment(name) => (Some((*name, value.wire.as_str())), None),
                    Slot::Field(name) => (None, Some((*name, value.wire.as_str()))),
                    Slot::Unread => (None, Some((UNREAD, value.wire.as_str()))),
                };
                let path = fill(route.path, &fixture, in_path);
                let params = params(
                    reads.fields,
                    in_params,
                    &people.regular.email,
                    fixture.target,
                );
                let checks_passwords = [
                    "/sign-in",
                    "/sign-in/two-factor",
                    "/profile/email",
                    "/profile/password",
                ];
                if route.method == "POST" && checks_passwords.contains(&route.path) {
                    // Most attempts fail on purpose: without this the
                    // throttle would soon answer 429 before the form is read.
                    diesel::sql_query("DELETE FROM sign_in_throttles")
                        .execute(&mut db)
                        .unwrap();
                }
                let before = known.take().unwrap_or_else(|| snapshot(&mut db));
                let mark = support::log_mark();

                // Act
                let answer = send(
                    &fixture.browser,
                    fixture.secret.as_deref(),
                    route.method,
                    &path,
                    params,
                )
                .await;
                sent += 1;

                // Assert
                let after = snapshot(&mut db);
                let logs = support::logs_since(mark);
                let problems = problems_with(&answer, &before, &after, &logs);
                known = Some(after);
                let status = answer.map_or("-".to_string(), |a| a.status.to_string());
                if !problems.is_empty() {
                    failures.push(format!(
                        "{label} | {} = {} | {status} | {}",
                        slot.name(),
                        value.name,
                        problems.join("; ")
                    ));
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests failed (route | field | value | status | what):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
