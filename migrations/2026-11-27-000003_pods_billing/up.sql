-- Pods (GPU machines of an account) and billing: a balance per account and
-- the transactions that move it. Money is integer cents.
ALTER TABLE accounts
    ADD COLUMN billing_email TEXT,
    ADD COLUMN balance_cents BIGINT NOT NULL DEFAULT 0;

CREATE TABLE pods (
    id                    UUID PRIMARY KEY,
    account_id            UUID NOT NULL REFERENCES accounts (id),
    name                  TEXT NOT NULL,
    gpu_type              TEXT NOT NULL,
    gpu_count             INTEGER NOT NULL CHECK (gpu_count BETWEEN 1 AND 8),
    image                 TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'terminated')),
    -- Catalogue price per GPU-hour times the count, fixed at creation.
    hourly_price_cents    BIGINT NOT NULL CHECK (hourly_price_cents > 0),
    created_at            TIMESTAMPTZ NOT NULL,
    -- Set while running: the start of the interval not yet charged.
    started_at            TIMESTAMPTZ,
    total_running_seconds BIGINT NOT NULL DEFAULT 0,
    total_charged_cents   BIGINT NOT NULL DEFAULT 0,
    terminated_at         TIMESTAMPTZ,
    CHECK ((status = 'running') = (started_at IS NOT NULL)),
    CHECK ((status = 'terminated') = (terminated_at IS NOT NULL))
);
CREATE INDEX pods_account_created_idx ON pods (account_id, created_at DESC);

CREATE TABLE billing_transactions (
    id           UUID PRIMARY KEY,
    account_id   UUID NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('funds_added', 'usage_charged')),
    -- Positive for funds added, negative for usage charged.
    amount_cents BIGINT NOT NULL CHECK (
        (kind = 'funds_added' AND amount_cents > 0)
        OR (kind = 'usage_charged' AND amount_cents < 0)
    ),
    description  TEXT NOT NULL,
    pod_id       UUID REFERENCES pods (id),
    created_by   UUID REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_transactions_account_idx
    ON billing_transactions (account_id, created_at DESC, id DESC);
