//! Arrange and act helpers for spend controls: Pods made and started
//! through the forms, running Pods inserted directly, limits and quotas
//! set through the forms, and the sweep run as a console runs it.

use diesel::prelude::*;
use team_console::spend::SweepReport;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Browser, TestApp, assert_redirect_to};

pub fn pods_path(account: Uuid) -> String {
    format!("/accounts/{account}/pods")
}

pub fn spend_path(account: Uuid) -> String {
    format!("/accounts/{account}/billing/spend")
}

impl TestApp {
    /// Runs one sweep through the serving role, as a console does, at `now`.
    pub fn sweep(&self, now: OffsetDateTime) -> SweepReport {
        let mut conn = PgConnection::establish(&self.serving_url).unwrap();
        team_console::spend::sweep(&mut conn, now).expect("the sweep")
    }

    /// Creates a Pod through the form (as `browser`); returns its id.
    pub async fn create_pod_as(
        &self,
        browser: &Browser,
        account: Uuid,
        name: &str,
        gpu: &str,
        count: &str,
    ) -> Uuid {
        let res = browser
            .post_form(
                &pods_path(account),
                &[
                    ("name", name),
                    ("gpu_type", gpu),
                    ("gpu_count", count),
                    ("image", "pytorch/pytorch:latest"),
                ],
            )
            .await;
        assert_redirect_to(&res, &pods_path(account));
        use team_console::db::schema::pods;
        pods::table
            .filter(pods::account_id.eq(account))
            .filter(pods::name.eq(name))
            .select(pods::id)
            .first(&mut self.conn())
            .unwrap()
    }

    /// Arrange: a Pod running since `started_at`, started by `user`.
    pub fn insert_running_pod(
        &self,
        account: Uuid,
        user: Uuid,
        gpu: &str,
        count: i32,
        hourly_price_cents: i64,
        started_at: OffsetDateTime,
    ) -> Uuid {
        use team_console::db::schema::pods;
        let id = Uuid::new_v4();
        diesel::insert_into(pods::table)
            .values((
                pods::id.eq(id),
                pods::account_id.eq(account),
                pods::name.eq(format!("run-{}", &id.simple().to_string()[..6])),
                pods::gpu_type.eq(gpu),
                pods::gpu_count.eq(count),
                pods::image.eq("ubuntu:24.04"),
                pods::status.eq("running"),
                pods::hourly_price_cents.eq(hourly_price_cents),
                pods::created_at.eq(started_at),
                pods::started_at.eq(started_at),
                pods::started_by.eq(user),
            ))
            .execute(&mut self.conn())
            .unwrap();
        id
    }

    /// Running Pods of the account.
    pub fn running_pods(&self, account: Uuid) -> Vec<Uuid> {
        use team_console::db::schema::pods;
        pods::table
            .filter(pods::account_id.eq(account))
            .filter(pods::status.eq("running"))
            .order(pods::id.asc())
            .select(pods::id)
            .load(&mut self.conn())
            .unwrap()
    }

    /// Usage charges of one Pod, in cents (negative).
    pub fn charges_of(&self, pod: Uuid) -> Vec<i64> {
        use team_console::db::schema::billing_transactions as bt;
        bt::table
            .filter(bt::pod_id.eq(pod))
            .order((bt::created_at.asc(), bt::id.asc()))
            .select(bt::amount_cents)
            .load(&mut self.conn())
            .unwrap()
    }

    /// (actor email, details) of every entry of `action`, oldest first.
    pub fn entries_of(&self, action: &str) -> Vec<(Option<String>, serde_json::Value)> {
        use team_console::db::schema::audit_entries as a;
        a::table
            .filter(a::action.eq(action))
            .order(a::id.asc())
            .select((a::actor_email, a::details))
            .load(&mut self.conn())
            .unwrap()
    }

    /// Sets a role's monthly limit through the Spend controls form (empty
    /// fields: no limit for the other roles).
    pub async fn set_role_limit(
        &self,
        browser: &Browser,
        account: Uuid,
        role: &str,
        dollars: &str,
    ) {
        let field = format!("limit_{role}");
        let res = browser
            .post_form(
                &format!("{}/roles", spend_path(account)),
                &[(field.as_str(), dollars)],
            )
            .await;
        assert_redirect_to(&res, &spend_path(account));
    }

    /// Sets a member's own monthly limit through the form.
    pub async fn set_member_limit(
        &self,
        browser: &Browser,
        account: Uuid,
        member: Uuid,
        dollars: &str,
    ) {
        let member = member.to_string();
        let res = browser
            .post_form(
                &format!("{}/members", spend_path(account)),
                &[("member", member.as_str()), ("limit", dollars)],
            )
            .await;
        assert_redirect_to(&res, &spend_path(account));
    }

    /// Sets the team's monthly budget through the form.
    pub async fn set_budget(&self, browser: &Browser, account: Uuid, dollars: &str) {
        let res = browser
            .post_form(
                &format!("{}/budget", spend_path(account)),
                &[("budget", dollars)],
            )
            .await;
        assert_redirect_to(&res, &spend_path(account));
    }

    /// Sets a role's quota of one GPU type through the form (the other
    /// types: no quota).
    pub async fn set_role_quota(
        &self,
        browser: &Browser,
        account: Uuid,
        role: &str,
        gpu: &str,
        max: &str,
    ) {
        let res = browser
            .post_form(
                &format!("{}/quotas", spend_path(account)),
                &[("role", role), (gpu, max)],
            )
            .await;
        assert_redirect_to(&res, &format!("{}#quotas", spend_path(account)));
    }
}

/// POSTs start for a Pod; the response.
pub async fn start(browser: &Browser, account: Uuid, pod: Uuid) -> reqwest::Response {
    browser
        .post_form(&format!("/accounts/{account}/pods/{pod}/start"), &[])
        .await
}
