-- The money truth: double-entry ledger. Entries are append-only and denormalised (tenant,
-- brand, player, kind, idempotency key on every row) so that the CDC relay can turn each
-- committed row into a complete `ledger.cdc` record without joins.
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.accounts (
    account_id    bigserial PRIMARY KEY,
    tenant_id     text        NOT NULL CHECK (tenant_id <> ''),
    brand_id      text        NOT NULL CHECK (brand_id <> ''),
    jurisdiction  text        NOT NULL CHECK (jurisdiction <> ''),
    account_kind  text        NOT NULL CHECK (account_kind IN ('cash', 'bonus', 'house')),
    player_id     text,
    -- house accounts per brand and currency: psp (cash in/out), gaming (stakes and wins),
    -- bonus (bonus liability), adjustment (manual corrections)
    house_book    text CHECK (house_book IN ('psp', 'gaming', 'bonus', 'adjustment')),
    currency      char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- kept for player accounts only: a running house balance would be one hot row that every
    -- transfer of a brand queues on. House balances are sum(entries).
    balance_minor bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((account_kind = 'house') = (player_id IS NULL)),
    CHECK ((account_kind = 'house') = (house_book IS NOT NULL)),
    CONSTRAINT player_balance_not_negative CHECK (account_kind = 'house' OR balance_minor >= 0)
);
CREATE UNIQUE INDEX accounts_player ON ledger.accounts (tenant_id, player_id, account_kind)
    WHERE player_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_house ON ledger.accounts (tenant_id, brand_id, currency, house_book)
    WHERE player_id IS NULL;

CREATE TABLE ledger.transfers (
    transfer_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key   text        NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    kind              text        NOT NULL CHECK (kind IN (
        'deposit', 'withdrawal', 'stake', 'win', 'refund', 'bonus_grant', 'bonus_stake',
        'bonus_win', 'bonus_convert', 'bonus_forfeit', 'chargeback', 'adjustment')),
    tenant_id         text        NOT NULL,
    brand_id          text        NOT NULL,
    jurisdiction      text        NOT NULL,
    player_id         text        NOT NULL,
    currency          char(3)     NOT NULL,
    amount_minor      bigint      NOT NULL CHECK (amount_minor <> 0),
    -- the first call's answer, returned again to a retry with the same key
    cash_after_minor  bigint      NOT NULL,
    bonus_after_minor bigint      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.entries (
    entry_id            bigserial   PRIMARY KEY,
    transfer_id         uuid        NOT NULL REFERENCES ledger.transfers,
    account_id          bigint      NOT NULL REFERENCES ledger.accounts,
    account_kind        text        NOT NULL,
    player_id           text        NOT NULL,  -- the transfer's player, house legs included
    tenant_id           text        NOT NULL,
    brand_id            text        NOT NULL,
    jurisdiction        text        NOT NULL,
    kind                text        NOT NULL,
    amount_minor        bigint      NOT NULL CHECK (amount_minor <> 0),
    currency            char(3)     NOT NULL,
    balance_after_minor bigint,                -- null on house legs (see accounts)
    idempotency_key     text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_transfer ON ledger.entries (transfer_id);
CREATE INDEX entries_account ON ledger.entries (account_id, entry_id);

-- An entry's currency is its account's currency, whoever inserts it.
CREATE FUNCTION ledger.entry_currency_matches() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_currency char(3);
BEGIN
    SELECT currency INTO v_currency FROM ledger.accounts WHERE account_id = NEW.account_id;
    IF v_currency IS DISTINCT FROM NEW.currency THEN
        RAISE EXCEPTION 'currency mismatch: entry in % on account % held in %',
            NEW.currency, NEW.account_id, v_currency USING ERRCODE = 'WS002';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER entries_currency BEFORE INSERT ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.entry_currency_matches();

-- Every transfer's entries sum to zero, checked at commit (after all legs are in).
CREATE FUNCTION ledger.transfer_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_sum numeric;
BEGIN
    SELECT sum(amount_minor) INTO v_sum FROM ledger.entries WHERE transfer_id = NEW.transfer_id;
    IF v_sum <> 0 THEN
        RAISE EXCEPTION 'unbalanced transfer %: entries sum to %', NEW.transfer_id, v_sum
            USING ERRCODE = 'WS006';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON ledger.entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.transfer_balances();

-- History is never rewritten: corrections are new transfers (kind 'adjustment').
CREATE FUNCTION ledger.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: post a correcting transfer instead', TG_TABLE_NAME
        USING ERRCODE = 'WS007';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();

-- Opens a player's cash and bonus accounts and the brand's house accounts in that currency.
CREATE FUNCTION ledger.open_player(p_tenant_id text, p_brand_id text, p_jurisdiction text,
                                   p_player_id text, p_currency text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger.accounts (tenant_id, brand_id, jurisdiction, account_kind, player_id, currency)
    VALUES (p_tenant_id, p_brand_id, p_jurisdiction, 'cash', p_player_id, p_currency),
           (p_tenant_id, p_brand_id, p_jurisdiction, 'bonus', p_player_id, p_currency)
    ON CONFLICT DO NOTHING;
    INSERT INTO ledger.accounts (tenant_id, brand_id, jurisdiction, account_kind, house_book, currency)
    SELECT p_tenant_id, p_brand_id, p_jurisdiction, 'house', book, p_currency
    FROM unnest(ARRAY['psp', 'gaming', 'bonus', 'adjustment']) AS book
    ON CONFLICT DO NOTHING;
END $$;
