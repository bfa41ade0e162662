import ExportCore
import Foundation
import SQLite

/// A copy of a canonical customer database under a CRM's own names, and the ``SourceModel``
/// (`source.yaml`) that reads it: for the tests of "Your own schema".
public enum OwnSchemaFixture {
    /// The same rows under a CRM's names: `crm_clients` (or the view `clients_v` over it), consents as
    /// the view `permissions` over `opt_ins` and `opt_outs`, card data and notes beside them.
    public static func writeRenamed(_ path: String, from canonical: String, customersAsView: Bool, duplicateKey: Bool = false) throws {
        try? FileManager.default.removeItem(atPath: path)
        let db = try Database(path: path, mode: .create)
        try db.execute("ATTACH DATABASE '\(canonical.replacingOccurrences(of: "'", with: "''"))' AS src")
        try db.execute("""
            CREATE TABLE crm_clients (client_id INTEGER PRIMARY KEY, given_name TEXT, family_name TEXT, email_address TEXT,
              mobile TEXT, street_line TEXT, town TEXT, county TEXT, zip TEXT, country_code TEXT, card_pan TEXT, card_exp TEXT,
              status TEXT, service_codes TEXT, signed_up_at TEXT, modified_at TEXT, notes TEXT);
            INSERT INTO crm_clients SELECT id, first_name, last_name, email, phone, street, city, region, postal_code, country,
              card_number, card_expiry, account_status, services, created_at, updated_at, 'private note' FROM src.customers;
            CREATE TABLE opt_ins (client INTEGER NOT NULL, purpose TEXT NOT NULL, at TEXT);
            CREATE TABLE opt_outs (client INTEGER NOT NULL, purpose TEXT NOT NULL, at TEXT);
            INSERT INTO opt_ins SELECT customer_id, scope, granted_at FROM src.consents;
            INSERT INTO opt_outs SELECT customer_id, scope, withdrawn_at FROM src.consents WHERE withdrawn_at IS NOT NULL;
            -- An opt-in event without a time (customer 1000 has no consent in the canonical rows): no consent either.
            INSERT INTO opt_ins VALUES (1000, 'partner-offers', NULL);
            CREATE VIEW permissions AS SELECT i.client AS client_ref, i.purpose AS purpose_code, i.at AS opted_in_at,
              o.at AS opted_out_at FROM opt_ins AS i LEFT JOIN opt_outs AS o ON o.client = i.client AND o.purpose = i.purpose;
            """)
        if customersAsView {
            try db.execute("CREATE VIEW clients_v AS SELECT * FROM crm_clients"
                           + (duplicateKey ? " UNION ALL SELECT * FROM crm_clients WHERE client_id IN (7, 9)" : ""))
        }
        try db.execute("DETACH DATABASE src")
    }

    public static func model(customersAsView: Bool, neverRead: Set<String> = ["card_pan", "card_exp", "notes"]) -> SourceModel {
        SourceModel(
            customers: .init(table: customersAsView ? "clients_v" : "crm_clients", key: "client_id", fields: [
                "first_name": "given_name", "last_name": "family_name", "email": "email_address", "phone": "mobile",
                "street": "street_line", "city": "town", "region": "county", "postal_code": "zip", "country": "country_code",
                "account_status": "status", "services": "service_codes", "created_at": "signed_up_at", "updated_at": "modified_at",
            ], neverRead: neverRead),
            consents: .init(table: "permissions", customer: "client_ref", scope: "purpose_code", grantedAt: "opted_in_at",
                            withdrawnAt: "opted_out_at"))
    }


    /// `source.yaml` for ``model(customersAsView:neverRead:)``.
    public static func sourceYAML(customersAsView: Bool) -> String {
        let model = model(customersAsView: customersAsView)
        return """
            # The CRM's own tables, read in place.
            customers:
              table: \(model.customers.table)
              key: client_id
              fields:
            \(model.customers.fields.sorted { $0.key < $1.key }.map { "    \($0.key): \($0.value)" }.joined(separator: "\n"))
              never_read: [card_pan, card_exp, notes]
            consents:
              table: permissions
              customer: client_ref
              scope: purpose_code
              granted_at: opted_in_at
              withdrawn_at: opted_out_at

            """
    }
}
