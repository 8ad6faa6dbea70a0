-- The posting function: one round trip, one transaction, idempotent per key.
--
-- Legs by kind (amount A > 0; adjustment may be negative):
--   deposit        cash +A  / house psp -A        withdrawal  cash -A  / house psp +A
--   stake          cash -A  / house gaming +A     win, refund cash +A  / house gaming -A
--   bonus_grant    bonus +A / house bonus -A      bonus_stake bonus -A / house gaming +A
--   bonus_win      bonus +A / house gaming -A     bonus_forfeit bonus -A / house bonus +A
--   bonus_convert  bonus -A / cash +A             chargeback  cash -A  / house psp +A
--   adjustment     cash +A  / house adjustment -A
-- Errors (SQLSTATE): WS001 unknown account, WS002 currency mismatch, WS003 overdraft,
-- WS004 idempotency key reused with different content, WS005 invalid amount or kind,
-- WS008 the same key posted concurrently (retry).
CREATE FUNCTION ledger.post_transfer(
    p_idempotency_key text, p_kind text, p_tenant_id text, p_brand_id text, p_player_id text,
    p_currency text, p_amount_minor bigint)
RETURNS TABLE (transfer_id uuid, replayed boolean, cash_balance_minor bigint,
               bonus_balance_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_cash    ledger.accounts;
    v_bonus   ledger.accounts;
    v_house   ledger.accounts;
    v_prev    ledger.transfers;
    v_id      uuid;
    v_book    text;
    v_leg     text;      -- the player account of the single-leg kinds
    v_delta   bigint;    -- signed amount on the player's account
    v_cash_after  bigint;
    v_bonus_after bigint;
BEGIN
    IF p_amount_minor IS NULL OR p_amount_minor = 0
       OR (p_amount_minor < 0 AND p_kind <> 'adjustment') THEN
        RAISE EXCEPTION 'invalid amount % for %: amounts are positive minor units '
            '(only adjustment may be negative)', p_amount_minor, p_kind USING ERRCODE = 'WS005';
    END IF;
    CASE p_kind
        WHEN 'deposit'       THEN v_leg := 'cash';  v_delta :=  p_amount_minor; v_book := 'psp';
        WHEN 'withdrawal'    THEN v_leg := 'cash';  v_delta := -p_amount_minor; v_book := 'psp';
        WHEN 'chargeback'    THEN v_leg := 'cash';  v_delta := -p_amount_minor; v_book := 'psp';
        WHEN 'stake'         THEN v_leg := 'cash';  v_delta := -p_amount_minor; v_book := 'gaming';
        WHEN 'win'           THEN v_leg := 'cash';  v_delta :=  p_amount_minor; v_book := 'gaming';
        WHEN 'refund'        THEN v_leg := 'cash';  v_delta :=  p_amount_minor; v_book := 'gaming';
        WHEN 'adjustment'    THEN v_leg := 'cash';  v_delta :=  p_amount_minor; v_book := 'adjustment';
        WHEN 'bonus_grant'   THEN v_leg := 'bonus'; v_delta :=  p_amount_minor; v_book := 'bonus';
        WHEN 'bonus_forfeit' THEN v_leg := 'bonus'; v_delta := -p_amount_minor; v_book := 'bonus';
        WHEN 'bonus_stake'   THEN v_leg := 'bonus'; v_delta := -p_amount_minor; v_book := 'gaming';
        WHEN 'bonus_win'     THEN v_leg := 'bonus'; v_delta :=  p_amount_minor; v_book := 'gaming';
        WHEN 'bonus_convert' THEN v_leg := 'bonus'; v_delta := -p_amount_minor; v_book := NULL;
        ELSE RAISE EXCEPTION 'unknown transfer kind %', p_kind USING ERRCODE = 'WS005';
    END CASE;

    SELECT * INTO v_cash FROM ledger.accounts a
     WHERE a.tenant_id = p_tenant_id AND a.player_id = p_player_id AND a.account_kind = 'cash'
       FOR UPDATE;  -- both player rows, always cash first: one player's transfers serialise
    SELECT * INTO v_bonus FROM ledger.accounts a
     WHERE a.tenant_id = p_tenant_id AND a.player_id = p_player_id AND a.account_kind = 'bonus'
       FOR UPDATE;
    IF v_cash.account_id IS NULL OR v_bonus.account_id IS NULL THEN
        RAISE EXCEPTION 'unknown account: player % of tenant % has no cash/bonus account '
            '(open it with ledger.open_player)', p_player_id, p_tenant_id USING ERRCODE = 'WS001';
    END IF;
    IF v_cash.brand_id <> p_brand_id THEN
        RAISE EXCEPTION 'unknown account: player % belongs to brand %, not %',
            p_player_id, v_cash.brand_id, p_brand_id USING ERRCODE = 'WS001';
    END IF;
    IF v_cash.currency <> p_currency THEN
        RAISE EXCEPTION 'currency mismatch: % transfer for player % whose wallet is in %',
            p_currency, p_player_id, v_cash.currency USING ERRCODE = 'WS002';
    END IF;

    -- A retry returns the first answer, or says the key meant something else.
    SELECT * INTO v_prev FROM ledger.transfers t WHERE t.idempotency_key = p_idempotency_key;
    IF v_prev.transfer_id IS NOT NULL THEN
        IF (v_prev.kind, v_prev.tenant_id, v_prev.brand_id, v_prev.player_id, v_prev.currency,
            v_prev.amount_minor)
           IS DISTINCT FROM (p_kind, p_tenant_id, p_brand_id, p_player_id, p_currency::char(3),
                             p_amount_minor) THEN
            RAISE EXCEPTION 'idempotency key % was used for a different transfer (% of % % '
                'for player %)', p_idempotency_key, v_prev.kind, v_prev.amount_minor,
                v_prev.currency, v_prev.player_id USING ERRCODE = 'WS004';
        END IF;
        RETURN QUERY SELECT v_prev.transfer_id, true, v_prev.cash_after_minor,
                            v_prev.bonus_after_minor;
        RETURN;
    END IF;

    -- The player's leg(s). The WHERE keeps cash and bonus from going below zero; the row
    -- lock it takes serialises concurrent transfers of one player.
    UPDATE ledger.accounts a SET balance_minor = a.balance_minor + v_delta
     WHERE a.account_id = CASE v_leg WHEN 'cash' THEN v_cash.account_id ELSE v_bonus.account_id END
       AND a.balance_minor + v_delta >= 0
    RETURNING a.balance_minor INTO v_cash_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'overdraft: player % % balance is % %, the % needs %', p_player_id, v_leg,
            CASE v_leg WHEN 'cash' THEN v_cash.balance_minor ELSE v_bonus.balance_minor END,
            p_currency, p_kind, -v_delta USING ERRCODE = 'WS003';
    END IF;
    IF v_leg = 'bonus' THEN
        v_bonus_after := v_cash_after;
        v_cash_after := v_cash.balance_minor;
    ELSE
        v_bonus_after := v_bonus.balance_minor;
    END IF;

    IF v_book IS NULL THEN  -- bonus_convert: the other leg credits the player's cash
        UPDATE ledger.accounts a SET balance_minor = a.balance_minor - v_delta
         WHERE a.account_id = v_cash.account_id RETURNING a.balance_minor INTO v_cash_after;
    END IF;

    -- Claim the key. A concurrent call with the same key blocks here until the first commits;
    -- then this one fails with WS008 and the client's retry gets the first answer.
    INSERT INTO ledger.transfers AS t (idempotency_key, kind, tenant_id, brand_id, jurisdiction,
                                       player_id, currency, amount_minor, cash_after_minor,
                                       bonus_after_minor)
    VALUES (p_idempotency_key, p_kind, p_tenant_id, p_brand_id, v_cash.jurisdiction,
            p_player_id, p_currency, p_amount_minor, v_cash_after, v_bonus_after)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING t.transfer_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'idempotency key % was posted concurrently; retry to get its result',
            p_idempotency_key USING ERRCODE = 'WS008';
    END IF;

    INSERT INTO ledger.entries (transfer_id, account_id, account_kind, player_id, tenant_id,
                                brand_id, jurisdiction, kind, amount_minor, currency,
                                balance_after_minor, idempotency_key)
    VALUES (v_id, CASE v_leg WHEN 'cash' THEN v_cash.account_id ELSE v_bonus.account_id END,
            v_leg, p_player_id, p_tenant_id, p_brand_id, v_cash.jurisdiction, p_kind, v_delta,
            p_currency, CASE v_leg WHEN 'cash' THEN v_cash_after ELSE v_bonus_after END,
            p_idempotency_key);

    IF v_book IS NULL THEN
        INSERT INTO ledger.entries (transfer_id, account_id, account_kind, player_id, tenant_id,
                                    brand_id, jurisdiction, kind, amount_minor, currency,
                                    balance_after_minor, idempotency_key)
        VALUES (v_id, v_cash.account_id, 'cash', p_player_id, p_tenant_id, p_brand_id,
                v_cash.jurisdiction, p_kind, -v_delta, p_currency, v_cash_after,
                p_idempotency_key);
    ELSE
        SELECT * INTO v_house FROM ledger.accounts a
         WHERE a.tenant_id = p_tenant_id AND a.brand_id = p_brand_id AND a.currency = p_currency
           AND a.house_book = v_book AND a.player_id IS NULL;
        IF v_house.account_id IS NULL THEN
            RAISE EXCEPTION 'unknown account: no % house account for brand % in %', v_book,
                p_brand_id, p_currency USING ERRCODE = 'WS001';
        END IF;
        INSERT INTO ledger.entries (transfer_id, account_id, account_kind, player_id, tenant_id,
                                    brand_id, jurisdiction, kind, amount_minor, currency,
                                    balance_after_minor, idempotency_key)
        VALUES (v_id, v_house.account_id, 'house', p_player_id, p_tenant_id, p_brand_id,
                v_cash.jurisdiction, p_kind, -v_delta, p_currency, NULL, p_idempotency_key);
    END IF;

    RETURN QUERY SELECT v_id, false, v_cash_after, v_bonus_after;
END $$;
