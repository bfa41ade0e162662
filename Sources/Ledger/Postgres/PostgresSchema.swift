/// The PostgreSQL ledger's schema `partner_export`, as numbered migrations (`schema_version` holds
/// the last applied). It starts at the SQLite ledger's fourth version: the same tables and columns,
/// in PostgreSQL's types, so that one set of statements (``SQLLedger``) serves both. Migrations are
/// never edited once released.
enum PostgresSchema {
    static let name = "partner_export"

    static let migrations: [String] = [version1, version2, version3, version4, version5]

    /// See ``Schema/readableFrom``: the oldest schema a read-only command reads as it is.
    static let readableFrom = 4

    /// Booleans stay integers (0/1) as in SQLite, so that the statements compare them the same way;
    /// `rowid` is the order rows were written in, which SQLite keeps implicitly.
    static let version1 = """
        CREATE TABLE runs (
          rowid        bigserial NOT NULL UNIQUE,
          id           text PRIMARY KEY,
          started_at   text NOT NULL,
          finished_at  text,
          trigger      text NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'rerun')),
          status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
          partners     text NOT NULL
        );
        CREATE TABLE run_partners (
          run_id       text NOT NULL REFERENCES runs(id),
          partner      text NOT NULL,
          status       text NOT NULL,
          eligible     bigint NOT NULL DEFAULT 0,
          records      bigint NOT NULL DEFAULT 0,
          rejected     bigint NOT NULL DEFAULT 0,
          deliveries   bigint NOT NULL DEFAULT 0,
          bytes        bigint NOT NULL DEFAULT 0,
          started_at   text NOT NULL,
          finished_at  text,
          error        text,
          report       text,
          error_code   text,
          feed         text,
          feed_complete integer NOT NULL DEFAULT 0,
          PRIMARY KEY (run_id, partner)
        );
        CREATE TABLE deliveries (
          seq             bigserial PRIMARY KEY,
          id              text NOT NULL UNIQUE,
          run_id          text NOT NULL REFERENCES runs(id),
          feed            text NOT NULL,
          partner         text NOT NULL,
          batch           bigint NOT NULL,
          record_count    bigint NOT NULL,
          last_customer   bigint,
          bytes           bigint NOT NULL,
          sha256          text NOT NULL,
          records_offset  bigint NOT NULL,
          records_length  bigint NOT NULL,
          payload_path    text NOT NULL,
          content_type    text NOT NULL,
          gzip            integer NOT NULL DEFAULT 0,
          status          text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'delivered', 'failed', 'rejected', 'held', 'superseded')),
          attempts        bigint NOT NULL DEFAULT 0,
          in_doubt        integer NOT NULL DEFAULT 0,
          last_http_status bigint,
          last_error      text,
          last_error_code text,
          answer_prefix   bytea,
          created_at      text NOT NULL,
          delivered_at    text,
          superseded_by   text,
          supersedes      text,
          fields          text NOT NULL,
          shape           text NOT NULL DEFAULT '[]',
          field_counts    text NOT NULL DEFAULT '[]',
          payload_pruned_at text,
          purpose         text NOT NULL,
          consent_scopes  text NOT NULL,
          manifest        bytea NOT NULL,
          changes         bytea NOT NULL DEFAULT ''::bytea,
          notice_count    bigint NOT NULL DEFAULT 0,
          key_field       text
        );
        CREATE INDEX deliveries_partner_status ON deliveries(partner, status);
        CREATE INDEX deliveries_run ON deliveries(run_id);
        CREATE INDEX deliveries_feed ON deliveries(feed, batch);
        CREATE TABLE attempts (
          delivery     bigint NOT NULL REFERENCES deliveries(seq),
          number       bigint NOT NULL,
          run_id       text NOT NULL,
          started_at   text NOT NULL,
          duration_ms  bigint,
          http_status  bigint,
          curl_code    bigint,
          error        text,
          outcome      text,
          PRIMARY KEY (delivery, number)
        );
        CREATE TABLE disclosures (
          customer_id  bigint NOT NULL,
          -- No foreign key: PostgreSQL would look up and lock the delivery once per row, and a delivery
          -- writes up to a million rows in the transaction that marks it delivered (which makes the
          -- reference true by construction; prune deletes the rows before their delivery).
          delivery     bigint NOT NULL,
          -- bytea, not text: the consent's grant time is the source's bytes as stored (a SQLite source
          -- may hold any bytes), and the log's leaves are made from them exactly.
          scope        bytea NOT NULL,
          granted_at   bytea NOT NULL,
          confirmed    integer NOT NULL DEFAULT 1,
          kind         text NOT NULL DEFAULT 'disclosure' CHECK (kind IN ('disclosure', 'deletion')),
          reason       text,
          log_index    bigint,
          PRIMARY KEY (customer_id, delivery, scope)
        );
        CREATE TABLE feeds (
          rowid        bigserial NOT NULL UNIQUE,
          id           text PRIMARY KEY,
          partner      text NOT NULL,
          run_id       text NOT NULL,
          started_at   text NOT NULL,
          shape        text NOT NULL,
          rendered     integer NOT NULL DEFAULT 0,
          batches      bigint NOT NULL DEFAULT 0,
          completed_at text,
          completed_by text,
          superseded_by text
        );
        CREATE INDEX feeds_partner ON feeds(partner, started_at);
        CREATE TABLE counters (
          partner text NOT NULL,
          name    text NOT NULL,
          value   bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (partner, name)
        );
        CREATE TABLE holdings (
          partner      text NOT NULL,
          customer_id  bigint NOT NULL,
          key          bytea NOT NULL,
          digest       bytea NOT NULL,
          PRIMARY KEY (partner, customer_id)
        );
        CREATE TABLE log_state (
          id        integer PRIMARY KEY CHECK (id = 1),
          frontier  bytea NOT NULL,
          pruned    bytea NOT NULL
        );
        -- Every delivery's bytes, for resends by any worker: keyed by the path the delivery records,
        -- checked against its SHA-256 before reuse. Large values are compressed by PostgreSQL itself.
        CREATE TABLE payloads (
          path       text PRIMARY KEY,
          data       bytea NOT NULL,
          stored_at  timestamptz NOT NULL DEFAULT now()
        );
        """

    /// Work shared by several processes (several machines): a run's items (partner × id-range shard),
    /// each claimed by one worker under a lease it renews; and which run each schedule slot became.
    static let version2 = """
        CREATE TABLE run_items (
          run_id       text NOT NULL REFERENCES runs(id),
          partner      text NOT NULL,
          shard        integer NOT NULL,            -- 1…shards
          shards       integer NOT NULL,
          range_after  bigint,                      -- the shard's customers: id > range_after (NULL: from the first)
          range_through bigint,                     --   and id <= range_through (NULL: to the last)
          status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
          holder       text,                        -- the worker that has it (or had it, once done)
          lease_until  timestamptz,                 -- the holder must renew before this (the server's clock)
          claimed_at   timestamptz,
          finished_at  timestamptz,
          takeovers    integer NOT NULL DEFAULT 0,  -- how often a lease ran out and another worker took it
          earlier_holders text NOT NULL DEFAULT '[]', -- JSON: the workers whose lease ran out, in order
          report       text,                        -- JSON: the item's outcome, as its worker recorded it
          PRIMARY KEY (run_id, partner, shard)
        );
        -- Where a delivered batch's holdings are staged before one upsert (written and emptied inside
        -- that transaction, whose rows no other transaction sees; unlogged: nothing in it outlives one).
        CREATE UNLOGGED TABLE holdings_in (n bigint, customer_id bigint, key bytea, digest bytea);
        CREATE TABLE run_slots (
          slot     text PRIMARY KEY,                -- a due schedule slot: the minute it came due, and the partners
          run_id   text NOT NULL REFERENCES runs(id)
        );
        """

    /// A sharded feed: into how many id ranges its render was split, and which items rendered theirs
    /// to the end (the feed is rendered when every one of them did).
    static let version3 = """
        ALTER TABLE feeds ADD COLUMN shards integer NOT NULL DEFAULT 1;
        ALTER TABLE run_items ADD COLUMN rendered integer NOT NULL DEFAULT 0;
        ALTER TABLE run_items ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
        -- The backend pid of the holder's lock session: a holder whose session is gone (its process died) is
        -- taken over at once, without waiting for its lease.
        ALTER TABLE run_items ADD COLUMN holder_session integer;
        -- The first shard's worker resent what earlier runs left in doubt (the other shards wait for it).
        ALTER TABLE run_items ADD COLUMN recovered integer NOT NULL DEFAULT 0;
        CREATE INDEX run_items_open ON run_items(run_id) WHERE status IN ('pending', 'running');
        """

    /// A run's `--allow-deletions` is the run's: recorded when it starts, so that a worker that joins
    /// it applies the same (or is refused).
    static let version4 = """
        ALTER TABLE runs ADD COLUMN allow_deletions integer NOT NULL DEFAULT 0;
        """

    /// Operating partners: the same tables as the SQLite ledger's seventh version.
    static let version5 = """
        CREATE TABLE partner_controls (
          partner       text PRIMARY KEY,
          paused_at     text,
          paused_by     text,
          pause_reason  text,
          wait_until    text,
          wait_reason   text
        );
        CREATE TABLE partner_events (
          partner  text NOT NULL,
          action   text NOT NULL,
          at       text NOT NULL,
          actor    text,
          reason   text
        );
        CREATE INDEX partner_events_partner ON partner_events(partner, at);
        CREATE TABLE request_slots (
          partner  text NOT NULL,
          at_ms    bigint NOT NULL
        );
        CREATE INDEX request_slots_partner ON request_slots(partner, at_ms);
        CREATE TABLE incidents (
          id          text PRIMARY KEY,
          partner     text NOT NULL,
          type        text NOT NULL,
          since       text NOT NULL,
          run_id      text,
          summary     text NOT NULL,
          owed        integer NOT NULL DEFAULT 0,
          sent_at     text,
          resolved_at text,
          resolved_sent_at text
        );
        CREATE UNIQUE INDEX incidents_open ON incidents(partner, type) WHERE resolved_at IS NULL;
        """
}
