//! The spend pages, reached from Billing: usage by member and Pod for any
//! month, and Spend controls (the budget, the limits and the GPU quotas,
//! with their forms).
