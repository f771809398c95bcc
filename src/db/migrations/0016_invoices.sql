-- Invoices and credit notes: one invoice per succeeded payment, one credit note per refund, each
-- numbered from a gap-free series per project and year (a counter row updated in the issuing
-- transaction). Rows are immutable once issued (trigger below).
CREATE TABLE invoice_series (
  project_id  text NOT NULL,
  series      text NOT NULL CHECK (series IN ('invoice', 'credit_note')),
  year        integer NOT NULL,
  last_number integer NOT NULL,
  PRIMARY KEY (project_id, series, year)
);

CREATE TABLE invoices (
  project_id  text NOT NULL,
  id          text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
  number      text NOT NULL,
  year        integer NOT NULL,
  sequence    integer NOT NULL,
  customer_id text,
  payment_id  text NOT NULL,
  refund_id   text,
  -- a credit note: the invoice it credits
  invoice_id  text,
  currency    text NOT NULL,
  subtotal    bigint NOT NULL,
  tax         bigint NOT NULL,
  total       bigint NOT NULL,
  seller      jsonb NOT NULL,
  buyer       jsonb NOT NULL,
  lines       jsonb NOT NULL,
  tax_details jsonb NOT NULL DEFAULT '{}',
  issued_at   timestamptz NOT NULL,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, number),
  UNIQUE (project_id, kind, year, sequence)
);
CREATE UNIQUE INDEX invoices_one_per_payment ON invoices (project_id, payment_id) WHERE kind = 'invoice';
CREATE UNIQUE INDEX invoices_one_per_refund ON invoices (project_id, refund_id) WHERE kind = 'credit_note';
CREATE INDEX invoices_customer ON invoices (project_id, customer_id, issued_at);

CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'invoice % is issued and cannot be changed', OLD.number;
END;
$$;
CREATE TRIGGER invoices_no_update BEFORE UPDATE OR DELETE ON invoices FOR EACH ROW EXECUTE FUNCTION invoices_immutable();

-- The buyer's billing details printed on their invoices (set through the API or a checkout).
CREATE TABLE customer_billing_details (
  project_id  text NOT NULL,
  customer_id text NOT NULL,
  name        text,
  address     jsonb NOT NULL DEFAULT '{}',
  country     text,
  vat_id      text,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (project_id, customer_id)
);
