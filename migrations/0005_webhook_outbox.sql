-- 0005: the outbox of PackWebhook notifications (docs/webhooks.md).
--
-- Database.record_execution inserts an execution's events here in the same transaction as the
-- execution itself, so an event exists exactly when its execution is recorded: never lost, never
-- twice (a deferred record is written later, once, and its events with it).  The delivery worker
-- (packgate.delivery) on every replica claims due rows with FOR UPDATE SKIP LOCKED and a lease
-- (next_attempt_at moved forward while an attempt runs), so two replicas never send one attempt
-- twice, and an attempt cut short by a crash is retried once its lease ends: at least once.
--
-- Both tables hang off pack_test_execution (ON DELETE CASCADE): retention removes them with
-- their execution.

-- One row per (execution, event type): the whole CloudEvent, ready to send.
CREATE TABLE packgate.webhook_event (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL UNIQUE,          -- the CloudEvent id: stable across retries and restarts
    execution_id     bigint NOT NULL REFERENCES packgate.pack_test_execution (id) ON DELETE CASCADE,
    namespace        text NOT NULL,
    pack_name        text NOT NULL,
    pack_uid         text NOT NULL,
    pack_labels      jsonb,                          -- NULL: not in the record; the worker reads the Pack
    event_type       text NOT NULL,
    cloudevent       jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Fan-out: matching the namespace's PackWebhooks once, into webhook_delivery rows.
    fanned_out_at    timestamptz,
    webhooks         integer,                        -- how many PackWebhooks wanted it
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,

    CONSTRAINT webhook_event_type_known CHECK (event_type IN ('Verdict', 'Blocked', 'Activated', 'RunnerError')),
    CONSTRAINT webhook_event_attempts_non_negative CHECK (attempts >= 0)
);

COMMENT ON TABLE packgate.webhook_event IS 'PackWebhook outbox: one CloudEvent per execution and event type';

CREATE INDEX idx_webhook_event_due ON packgate.webhook_event (next_attempt_at, id) WHERE fanned_out_at IS NULL;
CREATE INDEX idx_webhook_event_execution ON packgate.webhook_event (execution_id);

-- One row per (event, PackWebhook that wanted it): the delivery state.
CREATE TABLE packgate.webhook_delivery (
    id                bigserial PRIMARY KEY,
    event_id          bigint NOT NULL REFERENCES packgate.webhook_event (id) ON DELETE CASCADE,
    webhook_namespace text NOT NULL,
    webhook_name      text NOT NULL,
    webhook_uid       text NOT NULL,
    state             text NOT NULL DEFAULT 'pending',
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_attempt_at   timestamptz,
    last_status       integer,                      -- the HTTP status of the last answer, NULL when none came
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,

    CONSTRAINT webhook_delivery_once UNIQUE (event_id, webhook_uid),
    CONSTRAINT webhook_delivery_state_known CHECK (state IN ('pending', 'delivered', 'cancelled')),
    CONSTRAINT webhook_delivery_attempts_non_negative CHECK (attempts >= 0),
    CONSTRAINT webhook_delivery_delivered_at CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);

COMMENT ON TABLE packgate.webhook_delivery IS
    'Delivery of one outbox event to one PackWebhook: pending (retried with backoff), delivered or cancelled';

CREATE INDEX idx_webhook_delivery_due ON packgate.webhook_delivery (next_attempt_at, id) WHERE state = 'pending';
