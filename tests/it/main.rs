//! One integration-test binary (the crate links once): each module drives
//! the real server over HTTP against real PostgreSQL.

mod support;

mod account_security;
mod api;
mod architecture;
mod audit_chain;
mod audit_log;
mod audit_page;
mod audit_retention;
mod audit_sentences;
mod backups;
mod billing;
mod browser;
mod connections;
mod db_privileges;
mod hardening;
mod health;
mod hostile_input;
mod invites;
mod leaving;
mod mail;
mod mail_housekeeping;
mod matrix;
mod metrics;
mod own_postgres;
mod pages;
mod pods;
mod resilience;
mod security;
mod sessions;
mod sign_in;
mod sign_up;
mod spend_limits;
mod spend_pages;
mod spend_sweep;
mod streaming;
mod teams;
mod two_factor;
