//! The Audit logs page and its CSV export (Admin).

pub mod export;
pub mod page;
