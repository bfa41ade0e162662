-- The canonical customer schema (docs/design.md, "Source data") in PostgreSQL, as partner-export
-- reads it with --db postgresql://… (docs/postgresql.md). Every value is text, as in the SQLite file,
-- so that both sources give byte-identical feeds.
CREATE TABLE customers (
  id             bigint PRIMARY KEY,
  first_name     text NOT NULL,
  last_name      text NOT NULL,
  email          text NOT NULL,
  phone          text,
  street         text,
  city           text,
  region         text,
  postal_code    text,
  country        text NOT NULL,
  card_number    text,                 -- cardholder data: never read by partner-export
  card_expiry    text,                 -- cardholder data: never read by partner-export
  account_status text NOT NULL,
  services       text NOT NULL DEFAULT '[]',
  created_at     text NOT NULL,
  updated_at     text NOT NULL
);
CREATE TABLE consents (
  customer_id  bigint NOT NULL REFERENCES customers(id),
  scope        text NOT NULL,
  granted_at   text NOT NULL,
  withdrawn_at text,
  source       text,
  PRIMARY KEY (customer_id, scope)
);
CREATE TABLE customer_logs (          -- internal only: never read by partner-export
  customer_id bigint NOT NULL REFERENCES customers(id),
  at          text NOT NULL,
  event       text NOT NULL
);
