//! Arrange helpers for Pods and billing: a manual clock, Pods and balances
//! inserted directly.

use diesel::prelude::*;
use team_console::clock::{Clock, ClockHand};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::{Server, TestApp, test_settings};

/// When manual clocks start.
pub const T0: OffsetDateTime = datetime!(2026-11-27 09:00 UTC);

impl TestApp {
    /// The app with a manual clock standing at `T0`, and its hand.
    pub async fn spawn_with_clock() -> (TestApp, ClockHand) {
        let server = Server::get();
        let db_name = server.create_database();
        let mut settings = test_settings(server.serving_url(&db_name));
        let (clock, hand) = Clock::manual(T0);
        settings.clock = clock;
        (TestApp::spawn_with(settings, db_name).await, hand)
    }

    /// Arrange: a stopped 1 × RTX 4090 Pod in the account.
    pub fn insert_pod(&self, account_id: Uuid, name: &str) -> Uuid {
        use team_console::db::schema::pods;
        let id = Uuid::new_v4();
        diesel::insert_into(pods::table)
            .values((
                pods::id.eq(id),
                pods::account_id.eq(account_id),
                pods::name.eq(name),
                pods::gpu_type.eq("rtx-4090"),
                pods::gpu_count.eq(1),
                pods::image.eq("ubuntu:24.04"),
                pods::status.eq("stopped"),
                pods::hourly_price_cents.eq(69_i64),
                pods::created_at.eq(OffsetDateTime::now_utc()),
            ))
            .execute(&mut self.conn())
            .unwrap();
        id
    }

    /// Arrange: sets the account's balance directly.
    pub fn set_balance(&self, account_id: Uuid, cents: i64) {
        use team_console::db::schema::accounts;
        diesel::update(accounts::table.find(account_id))
            .set(accounts::balance_cents.eq(cents))
            .execute(&mut self.conn())
            .unwrap();
    }

    pub fn balance_of(&self, account_id: Uuid) -> i64 {
        use team_console::db::schema::accounts;
        accounts::table
            .find(account_id)
            .select(accounts::balance_cents)
            .first(&mut self.conn())
            .unwrap()
    }

    /// The Pod's status as stored.
    pub fn pod_status(&self, pod_id: Uuid) -> String {
        use team_console::db::schema::pods;
        pods::table
            .find(pod_id)
            .select(pods::status)
            .first(&mut self.conn())
            .unwrap()
    }

    /// The account's transactions as (kind, amount), oldest first.
    pub fn transactions(&self, account_id: Uuid) -> Vec<(String, i64)> {
        use team_console::db::schema::billing_transactions as bt;
        bt::table
            .filter(bt::account_id.eq(account_id))
            .order((bt::created_at.asc(), bt::id.asc()))
            .select((bt::kind, bt::amount_cents))
            .load(&mut self.conn())
            .unwrap()
    }
}
