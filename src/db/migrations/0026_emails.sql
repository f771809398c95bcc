-- E-mails to customers, made from outbox events by the emails.compose job and sent by emails.send.

-- When the e-mail job has looked at an event (null: not yet). Events written before e-mails existed
-- are marked done, so upgrading sends nothing about the past.
ALTER TABLE outbox_events ADD COLUMN emailed_at timestamptz;
UPDATE outbox_events SET emailed_at = created_at;
CREATE INDEX outbox_events_unemailed ON outbox_events(seq) WHERE emailed_at IS NULL;

-- One message per (event, template): a second look at the same event creates nothing. `once_key`
-- (e.g. the subscription of a "trial ended" mail) makes a message unique beyond one event.
CREATE TABLE email_messages (
  project_id          text NOT NULL REFERENCES projects(id),
  id                  text NOT NULL,
  event_id            text NOT NULL,
  event_type          text NOT NULL,
  template            text NOT NULL,
  once_key            text,
  customer_id         text,
  locale              text NOT NULL,
  from_address        text NOT NULL,
  to_address          text,
  subject             text NOT NULL,
  text_body           text NOT NULL,
  html_body           text NOT NULL,
  -- What is attached when the message is sent: [{"kind": "invoice", "invoice_id": "…", "filename": "…"}].
  attachments         jsonb NOT NULL DEFAULT '[]',
  -- pending: to be sent; sent: accepted by the SMTP server; captured: kept in the dev mailbox (no SMTP
  -- configured); failed: the retries are spent; skipped: not sent (no e-mail address, template off).
  status              text NOT NULL CHECK (status IN ('pending', 'sent', 'captured', 'failed', 'skipped')),
  skip_reason         text,
  attempts            integer NOT NULL DEFAULT 0,
  retry_step          integer NOT NULL DEFAULT 0,
  next_attempt_at     timestamptz,
  last_error          text,
  smtp_message_id     text,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  sent_at             timestamptz,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, event_id, template)
);
CREATE UNIQUE INDEX email_messages_once ON email_messages(project_id, template, once_key) WHERE once_key IS NOT NULL;
CREATE INDEX email_messages_due ON email_messages(next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_messages_created ON email_messages(project_id, created_at DESC, id DESC);
CREATE INDEX email_messages_customer ON email_messages(project_id, customer_id, created_at DESC, id DESC);
