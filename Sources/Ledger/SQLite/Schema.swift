/// The SQLite ledger's schema, as numbered migrations (`PRAGMA user_version` holds the last applied,
/// `PRAGMA application_id` says the file is a partner-export ledger). Migrations are never edited once
/// released: a ledger written by an earlier version is brought forward one step at a time.
enum Schema {
    /// 'PEXP': every ledger this version writes carries it.
    static let applicationID: Int64 = 0x5045_5850

    /// The tables every partner-export ledger has had since the first version (to recognise one
    /// written before `application_id` was set).
    static let firstTables = ["runs", "run_partners", "deliveries", "attempts", "disclosures"]

    /// Each migration, and whether it rebuilds a table (foreign keys are checked after, not during).
    static let migrations: [(sql: String, rebuildsTables: Bool)] = [
        (version1, false),
        (version2, true),
        (version3, false),
        (version4, false),
        (version5, false),
        (version6, false),
        (version7, false),
    ]

    /// The oldest schema a read-only command of this version reads without migrating it: the
    /// migrations after it only add tables, whose readers see them as empty until the next write
    /// command adds them.
    static let readableFrom = 6

    /// The first released schema.
    static let version1 = """
        CREATE TABLE runs (
          id           TEXT PRIMARY KEY,
          started_at   TEXT NOT NULL,
          finished_at  TEXT,
          trigger      TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'rerun')),
          status       TEXT NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
          partners     TEXT NOT NULL                     -- JSON array of the partners asked for
        );
        CREATE TABLE run_partners (
          run_id       TEXT NOT NULL REFERENCES runs(id),
          partner      TEXT NOT NULL,
          status       TEXT NOT NULL,                    -- delivered | failed | rejected | error | nothing-to-send
          eligible     INTEGER NOT NULL DEFAULT 0,
          records      INTEGER NOT NULL DEFAULT 0,
          rejected     INTEGER NOT NULL DEFAULT 0,
          deliveries   INTEGER NOT NULL DEFAULT 0,
          bytes        INTEGER NOT NULL DEFAULT 0,
          started_at   TEXT NOT NULL,
          finished_at  TEXT,
          error        TEXT,
          report       TEXT,                             -- JSON: rejections by reason, fields and forms that left
          PRIMARY KEY (run_id, partner)
        );
        CREATE TABLE deliveries (
          seq             INTEGER PRIMARY KEY,
          id              TEXT NOT NULL UNIQUE,
          run_id          TEXT NOT NULL REFERENCES runs(id),
          partner         TEXT NOT NULL,
          batch           INTEGER NOT NULL,
          record_count    INTEGER NOT NULL,
          bytes           INTEGER NOT NULL,
          sha256          TEXT NOT NULL,                 -- of the payload file
          records_offset  INTEGER NOT NULL,              -- where the records sit in the payload (without the
          records_length  INTEGER NOT NULL,              --   envelope): a rerun compares them byte for byte
          payload_path    TEXT NOT NULL,                 -- relative to the state folder
          content_type    TEXT NOT NULL,
          gzip            INTEGER NOT NULL DEFAULT 0,
          status          TEXT NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'delivered', 'failed', 'rejected', 'superseded')),
          attempts        INTEGER NOT NULL DEFAULT 0,
          in_doubt        INTEGER NOT NULL DEFAULT 0,    -- a request left and no answer came back
          last_http_status INTEGER,
          last_error      TEXT,
          answer_prefix   BLOB,
          created_at      TEXT NOT NULL,
          delivered_at    TEXT,
          superseded_by   TEXT,
          supersedes      TEXT,
          fields          TEXT NOT NULL,                 -- JSON array of output names
          shape           TEXT NOT NULL DEFAULT '[]',    -- JSON [{name, from, form}]: what the feed carries
          field_counts    TEXT NOT NULL DEFAULT '[]',    -- JSON: non-null values per field, in field order
          payload_pruned_at TEXT,
          purpose         TEXT NOT NULL,
          consent_scopes  TEXT NOT NULL,                 -- JSON array
          manifest        BLOB NOT NULL                  -- customer ids and consent grants; emptied once disclosed
        );
        CREATE INDEX deliveries_partner_status ON deliveries(partner, status);
        CREATE INDEX deliveries_run ON deliveries(run_id);
        CREATE TABLE attempts (
          delivery     INTEGER NOT NULL REFERENCES deliveries(seq),
          number       INTEGER NOT NULL,
          run_id       TEXT NOT NULL,
          started_at   TEXT NOT NULL,
          duration_ms  INTEGER,
          http_status  INTEGER,
          curl_code    INTEGER,
          error        TEXT,
          outcome      TEXT,                             -- NULL while in flight
          PRIMARY KEY (delivery, number)
        );
        CREATE TABLE disclosures (
          customer_id  INTEGER NOT NULL,
          delivery     INTEGER NOT NULL REFERENCES deliveries(seq),
          scope        TEXT NOT NULL,
          granted_at   TEXT NOT NULL,
          confirmed    INTEGER NOT NULL DEFAULT 1,       -- 0: may have been received (in doubt, then superseded)
          PRIMARY KEY (customer_id, delivery, scope)
        ) WITHOUT ROWID;
        """

    /// Feeds (feed completeness), `held` deliveries, error codes, counters that survive `prune`.
    static let version2 = """
        CREATE TABLE deliveries_v2 (
          seq             INTEGER PRIMARY KEY,
          id              TEXT NOT NULL UNIQUE,
          run_id          TEXT NOT NULL REFERENCES runs(id),
          feed            TEXT NOT NULL,                 -- feeds.id: the feed it is a batch of
          partner         TEXT NOT NULL,
          batch           INTEGER NOT NULL,
          record_count    INTEGER NOT NULL,
          last_customer   INTEGER,                       -- the last customer id it holds (its batch's range ends here)
          bytes           INTEGER NOT NULL,
          sha256          TEXT NOT NULL,                 -- of the payload as rendered
          records_offset  INTEGER NOT NULL,
          records_length  INTEGER NOT NULL,
          payload_path    TEXT NOT NULL,
          content_type    TEXT NOT NULL,
          gzip            INTEGER NOT NULL DEFAULT 0,
          status          TEXT NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'delivered', 'failed', 'rejected', 'held', 'superseded')),
          attempts        INTEGER NOT NULL DEFAULT 0,
          in_doubt        INTEGER NOT NULL DEFAULT 0,    -- a request may have been read, no definite answer came
          last_http_status INTEGER,
          last_error      TEXT,
          last_error_code TEXT,
          answer_prefix   BLOB,
          created_at      TEXT NOT NULL,
          delivered_at    TEXT,
          superseded_by   TEXT,
          supersedes      TEXT,
          fields          TEXT NOT NULL,
          shape           TEXT NOT NULL DEFAULT '[]',
          field_counts    TEXT NOT NULL DEFAULT '[]',
          payload_pruned_at TEXT,
          purpose         TEXT NOT NULL,
          consent_scopes  TEXT NOT NULL,
          manifest        BLOB NOT NULL
        );
        INSERT INTO deliveries_v2 (seq, id, run_id, feed, partner, batch, record_count, last_customer, bytes, sha256,
          records_offset, records_length, payload_path, content_type, gzip, status, attempts, in_doubt, last_http_status,
          last_error, last_error_code, answer_prefix, created_at, delivered_at, superseded_by, supersedes, fields, shape,
          field_counts, payload_pruned_at, purpose, consent_scopes, manifest)
        SELECT seq, id, run_id, run_id || '/' || partner, partner, batch, record_count, NULL, bytes, sha256,
          records_offset, records_length, payload_path, content_type, gzip, status, attempts, in_doubt, last_http_status,
          last_error, NULL, answer_prefix, created_at, delivered_at, superseded_by, supersedes, fields, shape,
          field_counts, payload_pruned_at, purpose, consent_scopes, manifest
        FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v2 RENAME TO deliveries;
        CREATE INDEX deliveries_partner_status ON deliveries(partner, status);
        CREATE INDEX deliveries_run ON deliveries(run_id);
        CREATE INDEX deliveries_feed ON deliveries(feed, batch);

        CREATE TABLE feeds (
          id           TEXT PRIMARY KEY,                 -- '<run id>/<partner>'
          partner      TEXT NOT NULL,
          run_id       TEXT NOT NULL,                    -- the run that started it
          started_at   TEXT NOT NULL,
          shape        TEXT NOT NULL,                    -- fingerprint of what decides the records' bytes ('' unknown)
          rendered     INTEGER NOT NULL DEFAULT 0,       -- every batch of it is recorded
          batches      INTEGER NOT NULL DEFAULT 0,       -- the highest batch number
          completed_at TEXT,
          completed_by TEXT,
          superseded_by TEXT
        );
        CREATE INDEX feeds_partner ON feeds(partner, started_at);
        -- Feeds of ledgers written before feeds existed: their shape is unknown, so a rerun renders them anew.
        INSERT INTO feeds (id, partner, run_id, started_at, shape, rendered, batches, completed_at, completed_by)
        SELECT feed, partner, run_id, min(created_at), '', 1, max(batch),
               CASE WHEN sum(status IN ('pending', 'failed', 'rejected')) = 0 THEN max(coalesce(delivered_at, created_at)) END,
               CASE WHEN sum(status IN ('pending', 'failed', 'rejected')) = 0 THEN run_id END
        FROM deliveries GROUP BY feed;

        ALTER TABLE run_partners ADD COLUMN error_code TEXT;
        ALTER TABLE run_partners ADD COLUMN feed TEXT;
        ALTER TABLE run_partners ADD COLUMN feed_complete INTEGER NOT NULL DEFAULT 0;
        UPDATE run_partners SET feed_complete = (status IN ('delivered', 'nothing-to-send'));

        CREATE TABLE counters (
          partner TEXT NOT NULL,
          name    TEXT NOT NULL,                         -- records_sent, bytes_sent, deliveries_failed, errors:<code>, …
          value   INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (partner, name)
        ) WITHOUT ROWID;
        INSERT INTO counters (partner, name, value)
          SELECT partner, 'records_sent', sum(record_count) FROM deliveries WHERE status = 'delivered' GROUP BY partner;
        INSERT INTO counters (partner, name, value)
          SELECT partner, 'bytes_sent', sum(bytes) FROM deliveries WHERE status = 'delivered' GROUP BY partner;
        INSERT INTO counters (partner, name, value)
          SELECT partner, 'deliveries_delivered', count(*) FROM deliveries WHERE status = 'delivered' GROUP BY partner;
        INSERT INTO counters (partner, name, value)
          SELECT d.partner, CASE a.outcome WHEN 'retry' THEN 'retries' ELSE 'deliveries_' || a.outcome END, count(*)
          FROM attempts AS a JOIN deliveries AS d ON d.seq = a.delivery
          WHERE a.outcome IN ('failed', 'rejected', 'retry') GROUP BY d.partner, a.outcome;
        """

    /// What each partner holds (change feeds, deletion notices), what each delivery changes in it, and
    /// deletion notices in the disclosure log.
    static let version3 = """
        -- Per partner and customer: the key value and a hash of the record as the partner acknowledged
        -- them. Written only in the transaction that marks a delivery delivered; a row goes when the
        -- partner acknowledges the customer's deletion notice.
        CREATE TABLE holdings (
          partner      TEXT NOT NULL,
          customer_id  INTEGER NOT NULL,
          key          BLOB NOT NULL,                    -- the key field's value as sent (KeyPacking: hex as raw bytes; empty: unknown)
          digest       BLOB NOT NULL,                    -- 16 bytes of SHA-256 of the record as sent (empty: unknown)
          PRIMARY KEY (partner, customer_id)
        ) WITHOUT ROWID;
        -- Ledgers written before holdings existed: whoever a partner was disclosed to, or may have been
        -- (unconfirmed rows), is held, with key and hash unknown (the next run sends them again and learns
        -- both; a notice works out the key from the id).
        INSERT OR IGNORE INTO holdings (partner, customer_id, key, digest)
          SELECT DISTINCT d.partner, x.customer_id, x'', x'' FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery;
        ALTER TABLE deliveries ADD COLUMN changes BLOB NOT NULL DEFAULT x'';   -- what it changes in holdings when delivered
        ALTER TABLE deliveries ADD COLUMN notice_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE deliveries ADD COLUMN key_field TEXT;                      -- the output name notices carry
        ALTER TABLE disclosures ADD COLUMN kind TEXT NOT NULL DEFAULT 'disclosure'
          CHECK (kind IN ('disclosure', 'deletion'));
        ALTER TABLE disclosures ADD COLUMN reason TEXT;                        -- deletions: why the partner must forget
        """

    /// The tamper-evident disclosure log: each disclosure-log row's place in the Merkle tree, and the
    /// tree's state (docs/audit.md). Rows already there are numbered in the order they were recorded;
    /// the tree's state over them is computed after this SQL, in the same transaction.
    static let version4 = """
        ALTER TABLE disclosures ADD COLUMN log_index INTEGER;   -- the entry's leaf index (no index: recording stays cheap)
        UPDATE disclosures SET log_index = o.n - 1 FROM (
          SELECT x.customer_id AS c, x.delivery AS dl, x.scope AS s,
                 row_number() OVER (ORDER BY coalesce(d.delivered_at, d.created_at), x.delivery, x.kind, x.customer_id, x.scope) AS n
          FROM disclosures AS x JOIN deliveries AS d ON d.seq = x.delivery) AS o
        WHERE disclosures.customer_id = o.c AND disclosures.delivery = o.dl AND disclosures.scope = o.s;
        CREATE TABLE log_state (
          id        INTEGER PRIMARY KEY CHECK (id = 1),
          frontier  BLOB NOT NULL,            -- the tree of every entry (MerkleFrontier: size, then its subtrees)
          pruned    BLOB NOT NULL             -- the tree of the entries prune removed (a prefix of the log)
        );
        """

    /// A feed rendered by several workers records into how many id ranges it was split (always 1 in a
    /// SQLite ledger, which has one worker; the column keeps one set of statements for both ledgers).
    static let version5 = """
        ALTER TABLE feeds ADD COLUMN shards INTEGER NOT NULL DEFAULT 1;
        """

    /// Whether a run sends deletion notices beyond the guard (`--allow-deletions`): the run's, so that
    /// every worker of a shared run applies the same (kept here too: one set of statements for both ledgers).
    static let version6 = """
        ALTER TABLE runs ADD COLUMN allow_deletions INTEGER NOT NULL DEFAULT 0;
        """

    /// Operating partners (docs/design.md, "Operating partners"): a pause and a remembered
    /// `Retry-After` per partner, every pause, resume and wait as an event, the request slots of a
    /// pace shared by every worker, and the incidents notify.yaml sends.
    static let version7 = """
        CREATE TABLE partner_controls (
          partner       TEXT PRIMARY KEY,
          paused_at     TEXT,
          paused_by     TEXT,
          pause_reason  TEXT,
          wait_until    TEXT,                   -- the partner asked us to wait (Retry-After beyond the cap)
          wait_reason   TEXT
        );
        CREATE TABLE partner_events (
          partner  TEXT NOT NULL,
          action   TEXT NOT NULL,               -- paused, resumed, waiting
          at       TEXT NOT NULL,
          actor    TEXT,
          reason   TEXT
        );
        CREATE INDEX partner_events_partner ON partner_events(partner, at);
        CREATE TABLE request_slots (
          partner  TEXT NOT NULL,
          at_ms    INTEGER NOT NULL             -- when a request was let go (milliseconds since 1970)
        );
        CREATE INDEX request_slots_partner ON request_slots(partner, at_ms);
        CREATE TABLE incidents (
          id          TEXT PRIMARY KEY,         -- stable per partner and cause: the webhook-id
          partner     TEXT NOT NULL,
          type        TEXT NOT NULL,
          since       TEXT NOT NULL,
          run_id      TEXT,
          summary     TEXT NOT NULL,
          owed        INTEGER NOT NULL DEFAULT 0,
          sent_at     TEXT,                     -- last sent (repeated at most daily while it lasts)
          resolved_at TEXT,
          resolved_sent_at TEXT
        );
        -- One open incident per partner and cause, whichever worker opens it.
        CREATE UNIQUE INDEX incidents_open ON incidents(partner, type) WHERE resolved_at IS NULL;
        """
}
