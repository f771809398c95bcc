-- Whether a subscription Tollgate bills has VAT added on top of its price at each charge
-- (`exclusive`) or included in it (`inclusive`): frozen when the subscription starts.
ALTER TABLE subscriptions ADD COLUMN tax_behavior text NOT NULL DEFAULT 'inclusive' CHECK (tax_behavior IN ('inclusive', 'exclusive'));

-- The issuing country of a saved card (ISO 3166-1 alpha-2), when the provider says: VAT evidence on
-- the invoices of the payments it makes.
ALTER TABLE payment_methods ADD COLUMN country text;
