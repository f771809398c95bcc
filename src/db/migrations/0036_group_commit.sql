-- Group commit of deducts (src/modules/credits/credits.batch.ts): one call applies a batch of deducts
-- collected by one instance, as one statement and so one transaction and one commit.
--
-- Accounts come once each (a_project/a_customer, in the order every batcher sorts them, so two
-- batches lock shared rows in the same order); ops refer to their account by index and are applied in
-- arrival order (array order), each getting its own answer:
--   ok            spent; balance/held after it
--   insufficient  not enough available at its turn; balance/held at its turn (nothing written for it)
--   fallback      no account yet, or expiring grants to spend first: the caller takes the unbatched path
--   replay        its Idempotency-Key already holds a stored reply for the same request
--   conflict      its Idempotency-Key was used with a different request
--   in_progress   its Idempotency-Key is claimed by a request that has not stored its reply
--   retry         its Idempotency-Key was freed meanwhile: the caller sends it again
-- A key is claimed in the same transaction as the effect and its reply is stored with it; the claim
-- of an op that did not spend is removed again, as a rolled-back unbatched request would leave it.
-- Each account changed is ONE update however many ops spent from it; ledger entries and outbox events
-- are one insert each, in arrival order. `top_up` tells the caller that a spending account has an
-- enabled, idle auto top-up (the caller then checks its threshold, after the commit).
CREATE FUNCTION tg_deduct_batch(
  a_project text[], a_customer text[],
  o_acct int[], o_amount bigint[], o_entry text[], o_reason text[], o_meta text[], o_at timestamptz[],
  o_threshold bigint[], o_low_id text[], o_ded_id text[],
  o_key text[], o_hash text[], o_key_at timestamptz[]
) RETURNS TABLE (op int, outcome text, balance bigint, held bigint, status_code int, response jsonb, top_up boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n int := coalesce(array_length(o_acct, 1), 0);
  na int := coalesce(array_length(a_customer, 1), 0);
  bal bigint[] := array_fill(NULL::bigint, ARRAY[na]);
  hld bigint[] := array_fill(0::bigint, ARRAY[na]);
  expg int[] := array_fill(0, ARRAY[na]);
  touched boolean[] := array_fill(false, ARRAY[na]);
  touched_at timestamptz[] := array_fill(NULL::timestamptz, ARRAY[na]);
  r_out text[] := array_fill(NULL::text, ARRAY[n]);
  r_bal bigint[] := array_fill(NULL::bigint, ARRAY[n]);
  r_held bigint[] := array_fill(NULL::bigint, ARRAY[n]);
  r_status int[] := array_fill(NULL::int, ARRAY[n]);
  r_resp jsonb[] := array_fill(NULL::jsonb, ARRAY[n]);
  r_low boolean[] := array_fill(false, ARRAY[n]);
  topup boolean[] := array_fill(false, ARRAY[na]);
  claimed int[] := '{}';
  r record;
  i int;
  k int;
  before bigint;
BEGIN
  IF n = 0 THEN RETURN; END IF;

  -- 1. Claim the keys (in key order, so two batches never wait on each other's keys crosswise).
  IF EXISTS (SELECT 1 FROM unnest(o_key) x WHERE x IS NOT NULL) THEN
    WITH c AS (
      INSERT INTO idempotency_keys (project_id, key, request_hash, created_at)
      SELECT a_project[o_acct[j]], o_key[j], o_hash[j], o_key_at[j]
      FROM generate_series(1, n) j WHERE o_key[j] IS NOT NULL
      ORDER BY 1, 2
      ON CONFLICT (project_id, key) DO NOTHING
      RETURNING project_id, key
    )
    SELECT coalesce(array_agg(j), '{}') INTO claimed
    FROM generate_series(1, n) j JOIN c ON c.project_id = a_project[o_acct[j]] AND c.key = o_key[j];

    FOR i IN SELECT j FROM generate_series(1, n) j WHERE o_key[j] IS NOT NULL AND NOT (j = ANY (claimed)) LOOP
      r_out[i] := 'retry';
    END LOOP;
    FOR r IN
      SELECT j, ik.request_hash, ik.status_code AS sc, ik.response AS resp
      FROM generate_series(1, n) j
      JOIN idempotency_keys ik ON ik.project_id = a_project[o_acct[j]] AND ik.key = o_key[j]
      WHERE o_key[j] IS NOT NULL AND NOT (j = ANY (claimed))
    LOOP
      IF r.request_hash <> o_hash[r.j] THEN
        r_out[r.j] := 'conflict';
      ELSIF r.sc IS NULL THEN
        r_out[r.j] := 'in_progress';
      ELSE
        r_out[r.j] := 'replay';
        r_status[r.j] := r.sc;
        r_resp[r.j] := r.resp;
      END IF;
    END LOOP;
  END IF;

  -- 2. Lock the accounts, in the order given.
  FOR r IN
    SELECT t.i, ca.balance AS b, ca.held AS h, ca.expiring_grants AS e
    FROM unnest(a_project, a_customer) WITH ORDINALITY AS t(p, c, i)
    JOIN credit_accounts ca ON ca.project_id = t.p AND ca.customer_id = t.c
    ORDER BY t.i
    FOR UPDATE OF ca
  LOOP
    bal[r.i] := r.b;
    hld[r.i] := r.h;
    expg[r.i] := r.e;
  END LOOP;

  -- 3. Each op at its turn, in arrival order.
  FOR i IN 1..n LOOP
    CONTINUE WHEN r_out[i] IS NOT NULL;
    k := o_acct[i];
    IF bal[k] IS NULL OR expg[k] > 0 THEN
      r_out[i] := 'fallback';
    ELSIF bal[k] - hld[k] < o_amount[i] THEN
      r_out[i] := 'insufficient';
      r_bal[i] := bal[k];
      r_held[i] := hld[k];
    ELSE
      before := bal[k];
      bal[k] := bal[k] - o_amount[i];
      touched[k] := true;
      touched_at[k] := o_at[i];
      r_out[i] := 'ok';
      r_bal[i] := bal[k];
      r_held[i] := hld[k];
      r_low[i] := o_threshold[i] IS NOT NULL AND before > o_threshold[i] AND bal[k] <= o_threshold[i];
    END IF;
  END LOOP;

  -- 4. One update per account, one insert of the entries, one of the events.
  IF true = ANY (touched) THEN
    UPDATE credit_accounts ca SET balance = x.b, updated_at = x.u
    FROM (SELECT a_project[j] AS p, a_customer[j] AS c, bal[j] AS b, touched_at[j] AS u
          FROM generate_series(1, na) j WHERE touched[j]) x
    WHERE ca.project_id = x.p AND ca.customer_id = x.c;

    INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, reason, metadata, created_at)
    SELECT o_entry[j], a_project[o_acct[j]], a_customer[o_acct[j]], -o_amount[j], r_bal[j], 'deduct', o_reason[j], o_meta[j]::jsonb, o_at[j]
    FROM generate_series(1, n) j WHERE r_out[j] = 'ok'
    ORDER BY j;

    INSERT INTO outbox_events (id, project_id, type, customer_id, payload, created_at)
    SELECT e.id, e.p, e.t, e.c, e.payload, e.at FROM (
      SELECT j, 0 AS sub, o_low_id[j] AS id, a_project[o_acct[j]] AS p, 'credits.low_balance' AS t, a_customer[o_acct[j]] AS c,
             jsonb_build_object('type', 'credits.low_balance', 'customer_id', a_customer[o_acct[j]],
               'data', jsonb_build_object('balance', r_bal[j], 'threshold', o_threshold[j])) AS payload, o_at[j] AS at
      FROM generate_series(1, n) j WHERE r_low[j]
      UNION ALL
      SELECT j, 1, o_ded_id[j], a_project[o_acct[j]], 'credits.deducted', a_customer[o_acct[j]],
             jsonb_build_object('type', 'credits.deducted', 'customer_id', a_customer[o_acct[j]],
               'data', jsonb_build_object('amount', o_amount[j], 'balance', r_bal[j], 'transaction_id', o_entry[j], 'reason', o_reason[j])), o_at[j]
      FROM generate_series(1, n) j
      JOIN projects pr ON pr.id = a_project[o_acct[j]]
      WHERE r_out[j] = 'ok' AND coalesce((pr.settings->>'emit_credits_deducted')::boolean, false)
    ) e ORDER BY e.j, e.sub;

    -- Which spending accounts have an auto top-up to consider (saves the caller a read per deduct).
    FOR r IN
      SELECT t.i FROM unnest(a_project, a_customer) WITH ORDINALITY AS t(p, c, i)
      JOIN credit_auto_top_ups s ON s.project_id = t.p AND s.customer_id = t.c
      WHERE touched[t.i] AND s.enabled AND NOT s.running
    LOOP
      topup[r.i] := true;
    END LOOP;
  END IF;

  -- 5. Replies stored with the effect; claims of ops that spent nothing are freed.
  IF cardinality(claimed) > 0 THEN
    UPDATE idempotency_keys ik SET status_code = 200,
      response = jsonb_build_object('balance', r_bal[x.j], 'held', r_held[x.j], 'available', r_bal[x.j] - r_held[x.j],
                                    'deducted', o_amount[x.j], 'transaction_id', o_entry[x.j])
    FROM unnest(claimed) AS x(j)
    WHERE r_out[x.j] = 'ok' AND ik.project_id = a_project[o_acct[x.j]] AND ik.key = o_key[x.j];
    DELETE FROM idempotency_keys ik USING unnest(claimed) AS x(j)
    WHERE r_out[x.j] <> 'ok' AND ik.project_id = a_project[o_acct[x.j]] AND ik.key = o_key[x.j];
  END IF;

  RETURN QUERY SELECT j, r_out[j], r_bal[j], r_held[j], r_status[j], r_resp[j], r_out[j] = 'ok' AND topup[o_acct[j]]
    FROM generate_series(1, n) j;
END $$;
