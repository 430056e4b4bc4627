DROP TABLE billing_transactions;
DROP TABLE pods;
ALTER TABLE accounts
    DROP COLUMN balance_cents,
    DROP COLUMN billing_email;
