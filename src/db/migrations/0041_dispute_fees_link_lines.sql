-- The fee the provider charged for a dispute (Stripe's dispute fee, the sum of the dispute's balance
-- transactions' fees), in the fee's currency; counted with the providers' fees in net revenue.
ALTER TABLE disputes ADD COLUMN fee_amount bigint;
ALTER TABLE disputes ADD COLUMN fee_currency text;

-- Every line of an adopted Stripe Payment Link, each price bound to its catalog item:
-- [{"price_ref": "price_…", "kind": "pack", "item_id": "starter", "quantity": 2}, …]. The columns
-- price_ref, kind and item_id keep the first line's.
ALTER TABLE stripe_payment_links ADD COLUMN lines jsonb NOT NULL DEFAULT '[]';
