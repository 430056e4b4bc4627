//! The spend pages, reached from Billing: usage by member and Pod for any
//! month, and Spend controls (the budget, the limits and the GPU quotas,
//! with their forms). The spend core refuses nothing that a form has not
//! already checked: a member of another account is diesel's NotFound (a
//! 404), every other refusal is a form's message.

pub mod controls;
pub mod forms;
pub mod usage;
