/// The ledger's schema, as numbered migrations (`PRAGMA user_version` holds the last applied).
enum Schema {
    static let migrations: [String] = [
        """
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
        """,
    ]
}
