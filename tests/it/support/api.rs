//! API keys and requests with them: keys made through the Settings page
//! (`create_api_key`) or, to arrange many at once, with the core itself
//! (`insert_api_key`), and a client that sends a key and no cookies.

use diesel::prelude::*;
use team_console::api_keys::{self, NewKey};
use team_console::audit::{Actor, Change, Origin};
use team_console::ids::{AccountId, UserId};
use uuid::Uuid;

use crate::support::{TestApp, TestUser};

/// The secret shown once on the page answering the create form.
pub fn secret_in(body: &str) -> Option<String> {
    let at = body.find("id=\"new-key-secret\"")?;
    let rest = &body[at..];
    let value = rest.split_once("value=\"")?.1;
    Some(value.split_once('"')?.0.to_string())
}

impl TestApp {
    /// Creates a key through Settings → API keys, as `admin`; returns its
    /// secret.
    pub async fn create_api_key(
        &self,
        admin: &TestUser,
        account: Uuid,
        name: &str,
        scopes: &[&str],
    ) -> String {
        let mut form = vec![("name", name), ("lifetime_days", "")];
        form.extend(scopes.iter().map(|s| (*s, "on")));
        let res = admin
            .browser
            .post_form(&format!("/accounts/{account}/settings/api-keys"), &form)
            .await;
        assert_eq!(res.status(), 200, "creating an API key");
        secret_in(&res.text().await.unwrap()).expect("the page shows the new key")
    }

    /// Arrange: a key of `account` created by `creator` (who must be its
    /// Admin now), with the core directly; returns its secret.
    pub fn insert_api_key(
        &self,
        account: Uuid,
        creator: Uuid,
        name: &str,
        scopes: &[&str],
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let new = NewKey::check(name, &scopes, "").expect("a valid key");
        let cx = Change {
            account_id: AccountId::from_uuid(account),
            actor: Actor {
                id: Some(UserId::from_uuid(creator)),
                email: "arrange@example.com".into(),
                name: Some("Arrange".into()),
            },
            origin: Origin::default(),
            now: time::OffsetDateTime::now_utc(),
        };
        api_keys::create(&mut self.conn(), &cx, &new)
            .expect("create the key")
            .secret
    }

    /// The id of the key whose secret is `secret`.
    pub fn api_key_id(&self, secret: &str) -> Uuid {
        use team_console::db::schema::api_keys;
        api_keys::table
            .filter(api_keys::secret_hash.eq(team_console::tokens::sha256(secret)))
            .select(api_keys::id)
            .first(&mut self.conn())
            .unwrap()
    }

    /// A client with `secret` as its bearer key and no cookie jar.
    pub fn api(&self, secret: &str) -> ApiClient {
        ApiClient {
            base: self.address.clone(),
            secret: secret.to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Arrange: sets `user`'s role in the account directly.
    pub fn set_role(&self, account: Uuid, user: Uuid, role: team_console::authz::Role) {
        use team_console::db::schema::memberships;
        diesel::update(memberships::table.find((account, user)))
            .set(memberships::role.eq(role.as_str()))
            .execute(&mut self.conn())
            .unwrap();
    }
}

#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    pub secret: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    /// Sends `method path` with the key (and `body` as JSON, if any).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url).bearer_auth(&self.secret);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        request.send().await.expect("API request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send("POST", path, Some(body)).await
    }
}

/// A response's body as JSON.
pub async fn json(res: reqwest::Response) -> serde_json::Value {
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
