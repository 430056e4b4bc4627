-- Spend controls (issue 16): who started each Pod run, usage per member and
-- Pod per calendar month (UTC), the team's budget, monthly limits per role
-- and per member, GPU quotas per role and per member, and the alerts that
-- were raised. Money is integer cents.

-- Who started the Pod's current run (NULL while it is not running).
ALTER TABLE pods ADD COLUMN started_by UUID REFERENCES users (id);
ALTER TABLE pods ADD CONSTRAINT pods_started_by_running
    CHECK (status = 'running' OR started_by IS NULL);
-- Runs already going: their starter, from the log.
UPDATE pods SET started_by = (
    SELECT e.actor_id FROM audit_entries e
     WHERE e.account_id = pods.account_id AND e.resource_id = pods.id::text
       AND e.action = 'pod.started'
     ORDER BY e.occurred_at DESC, e.id DESC
     LIMIT 1)
 WHERE status = 'running';
-- The sweep reads every running Pod; starts count a member's running GPUs.
CREATE INDEX pods_running_idx ON pods (account_id, started_by) WHERE status = 'running';

-- Usage of one Pod by one member in one calendar month: a run that ends
-- adds to the row of each month it ran in. `user_id` is NULL for a run
-- started before runs recorded their starter.
CREATE TABLE monthly_usage (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month           DATE NOT NULL CHECK (extract(day FROM month) = 1),
    account_id      UUID NOT NULL REFERENCES accounts (id),
    user_id         UUID REFERENCES users (id),
    pod_id          UUID NOT NULL REFERENCES pods (id),
    running_seconds BIGINT NOT NULL CHECK (running_seconds >= 0),
    gpu_seconds     BIGINT NOT NULL CHECK (gpu_seconds >= 0),
    cost_cents      BIGINT NOT NULL CHECK (cost_cents >= 0),
    CONSTRAINT monthly_usage_key UNIQUE NULLS NOT DISTINCT (month, account_id, user_id, pod_id)
);

-- The team's monthly budget: at 100 % no one starts Pods.
CREATE TABLE team_budgets (
    account_id    UUID PRIMARY KEY REFERENCES accounts (id),
    monthly_cents BIGINT NOT NULL CHECK (monthly_cents >= 0),
    updated_at    TIMESTAMPTZ NOT NULL
);

-- The default monthly limit of each member of a role.
CREATE TABLE role_spend_limits (
    account_id    UUID NOT NULL REFERENCES accounts (id),
    role          TEXT NOT NULL CHECK (role IN ('basic', 'billing', 'dev', 'admin')),
    monthly_cents BIGINT NOT NULL CHECK (monthly_cents >= 0),
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, role)
);

-- A member's own monthly limit, in place of their role's. It belongs to
-- the membership: it goes when the member leaves or is removed.
CREATE TABLE member_spend_limits (
    account_id    UUID NOT NULL,
    user_id       UUID NOT NULL,
    monthly_cents BIGINT NOT NULL CHECK (monthly_cents >= 0),
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, user_id) REFERENCES memberships (account_id, user_id) ON DELETE CASCADE
);

-- The most GPUs of a type each member of a role may run at once.
CREATE TABLE role_gpu_quotas (
    account_id UUID NOT NULL REFERENCES accounts (id),
    role       TEXT NOT NULL CHECK (role IN ('basic', 'billing', 'dev', 'admin')),
    gpu_type   TEXT NOT NULL,
    max_gpus   INTEGER NOT NULL CHECK (max_gpus >= 0),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, role, gpu_type)
);

-- A member's own quota for a GPU type, in place of their role's.
CREATE TABLE member_gpu_quotas (
    account_id UUID NOT NULL,
    user_id    UUID NOT NULL,
    gpu_type   TEXT NOT NULL,
    max_gpus   INTEGER NOT NULL CHECK (max_gpus >= 0),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, user_id, gpu_type),
    FOREIGN KEY (account_id, user_id) REFERENCES memberships (account_id, user_id) ON DELETE CASCADE
);

-- Alerts raised, at most one per limit, threshold and month: `user_id` is
-- the member whose limit it is, NULL for the team's budget.
CREATE TABLE spend_alerts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month       DATE NOT NULL CHECK (extract(day FROM month) = 1),
    account_id  UUID NOT NULL REFERENCES accounts (id),
    user_id     UUID REFERENCES users (id),
    threshold   INTEGER NOT NULL CHECK (threshold IN (50, 80, 100)),
    used_cents  BIGINT NOT NULL,
    limit_cents BIGINT NOT NULL,
    raised_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT spend_alerts_key UNIQUE NULLS NOT DISTINCT (month, account_id, user_id, threshold)
);
