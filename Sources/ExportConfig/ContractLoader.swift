import ExportCore
import Foundation
import Yams

/// `partners/<id>.yaml` → ``Contract``, reporting every problem with its line.
struct ContractLoader {
    static let topKeys = ["id", "name", "purpose", "consent", "allow", "filters", "format", "mode", "max_deletions_percent", "xsd",
                          "delivery", "schedule", "wording", "data_use", "legal_basis", "recipient", "retention_days"]
    static let recipientKeys = ["legal_name", "country", "dpa_url"]
    static let deliveryKeys = ["url", "method", "headers", "auth", "signing_secret_env", "pseudonym_key_env", "ca_file",
                               "client_cert", "client_key", "client_key_password_env", "pinned_public_key", "batch", "gzip",
                               "timeout_seconds", "max_attempts", "shards", "rate_limit", "max_retry_after_seconds"]
    static let rateLimitKeys = ["requests_per_minute"]
    static let authKeys = ["bearer_token_env", "bearer_token_file", "basic_user", "basic_password_env", "basic_password_file",
                           "api_key", "oauth2"]
    static let apiKeyKeys = ["header", "env", "file"]
    static let oauth2Keys = ["token_url", "client_id", "client_secret_env", "client_secret_file", "scope", "audience", "client_auth"]
    static let batchKeys = ["max_records", "max_bytes"]
    /// Headers partner-export sets itself; a contract may not override them.
    static let reservedHeaders = ["content-type", "content-length", "content-encoding", "transfer-encoding", "host",
                                  "idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature", "expect",
                                  "partner-export-checkpoint"]

    let fileID: String
    let configDirectory: URL
    var diagnostics: Diagnostics

    init(file: String, fileID: String, configDirectory: URL) {
        self.fileID = fileID
        self.configDirectory = configDirectory
        diagnostics = Diagnostics(file: file)
    }

    /// Lines of keys that later checks (XSD compilation, delivery files) point at.
    private(set) var lines: [String: Int] = [:]

    mutating func load(_ root: Node) -> Contract? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)

        let id = map.requiredString("id", diagnostics: &diagnostics)
        if let id, id != fileID {
            diagnostics.report(map.value("id")?.mark?.line,
                               "id '\(id)' differs from the file name '\(fileID).yaml'; they must be equal")
        }
        let name = map.requiredString("name", diagnostics: &diagnostics)
        let purpose = map.requiredString("purpose", diagnostics: &diagnostics)
        let consent = loadConsent(map)
        let allow = loadAllow(map)
        let filters = loadFilters(map)
        let format = loadFormat(map)
        let xsd = loadXSD(map, format: format)
        let delivery = map.value("delivery").flatMap { loadDelivery($0) }
        if map.value("delivery") == nil {
            diagnostics.report(map.line, "missing required key 'delivery'")
        }
        var mode: FeedMode?
        if let text = map.optionalString("mode", diagnostics: &diagnostics) {
            mode = FeedMode(rawValue: text)
            if mode == nil { diagnostics.report(map.value("mode")?.mark?.line, "mode must be snapshot or changes") }
        }
        let maxDeletions = map.optionalPercent("max_deletions_percent", diagnostics: &diagnostics)
        let wording = loadWording(map, allow: allow)
        let terms = loadTerms(map)
        let schedule = map.optionalString("schedule", diagnostics: &diagnostics)
        if let schedule, let line = map.value("schedule")?.mark?.line {
            lines["schedule"] = line
            if let problem = CronSchedule.problem(in: schedule) {
                diagnostics.report(line, "schedule: \(problem)")
            }
        }
        guard diagnostics.problems.isEmpty, let id, let name, let purpose, let consent, let allow, let filters,
              let format, let delivery else { return nil }
        return Contract(id: id, name: name, purpose: purpose, consent: consent, allow: allow, filters: filters,
                        format: format, xsd: xsd, delivery: delivery, schedule: schedule, mode: mode ?? .snapshot,
                        maxDeletionsPercent: maxDeletions ?? 10, wording: wording, terms: terms)
    }

    /// `data_use`, `legal_basis`, `recipient`, `retention_days`: the contract's place in the record of
    /// processing (docs/privacy.md). Names from the fideslang taxonomy; an unknown one names the nearest.
    private mutating func loadTerms(_ map: YAMLMap) -> ProcessingTerms {
        var use: String?
        if let text = map.optionalString("data_use", diagnostics: &diagnostics) {
            lines["data_use"] = map.value("data_use")?.mark?.line
            if Taxonomy.isUse(text) { use = text } else {
                let hint = PrivacyNames.nearest(text, among: Taxonomy.dataUses.map(\.key))
                let nearest = hint.isEmpty ? " (the fideslang data uses: marketing.advertising.third_party, analytics.reporting, …)" : hint
                diagnostics.report(map.value("data_use")?.mark?.line, "data_use: '\(text)' is not a data use of the taxonomy\(nearest)")
            }
        }
        var basis: LegalBasis?
        if let text = map.optionalString("legal_basis", diagnostics: &diagnostics) {
            lines["legal_basis"] = map.value("legal_basis")?.mark?.line
            basis = LegalBasis(rawValue: text)
            if basis == nil { diagnostics.report(map.value("legal_basis")?.mark?.line, PrivacyNames.unknownBasis(text, key: "legal_basis")) }
        }
        var recipient: ProcessingTerms.Recipient?
        if let node = map.value("recipient"), let entry = YAMLMap(node, path: "recipient", diagnostics: &diagnostics) {
            entry.reportUnknownKeys(allowed: Self.recipientKeys, diagnostics: &diagnostics)
            let name = entry.requiredString("legal_name", diagnostics: &diagnostics)
            let country = entry.requiredString("country", diagnostics: &diagnostics)
            if let country, !(country.utf8.count == 2 && country.utf8.allSatisfy { (0x41...0x5A).contains($0) }) {
                diagnostics.report(entry.value("country")?.mark?.line, "recipient.country must be an ISO 3166-1 alpha-2 code (GB, DE, US)")
            }
            let dpa = entry.optionalString("dpa_url", diagnostics: &diagnostics)
            if let dpa {
                for problem in HTTPSURL.problems(dpa, key: "recipient.dpa_url") { diagnostics.report(entry.value("dpa_url")?.mark?.line, problem) }
            }
            if let name, let country { recipient = .init(legalName: name, country: country, dpaURL: dpa) }
        }
        let retention = map.optionalInt("retention_days", in: 1...36_500, diagnostics: &diagnostics)
        return ProcessingTerms(dataUse: use, legalBasis: basis, recipient: recipient, retentionDays: retention)
    }

    /// `wording: {field: text}`: how the customer's report names a field this contract allows,
    /// instead of the standard words (docs/configuration.md).
    private mutating func loadWording(_ map: YAMLMap, allow: [AllowedField]?) -> [String: String] {
        guard let node = map.value("wording") else { return [:] }
        guard let wordingMap = YAMLMap(node, path: "wording", diagnostics: &diagnostics) else { return [:] }
        var wording: [String: String] = [:]
        for (field, line, value) in wordingMap.entries {
            if let allow, !allow.contains(where: { $0.field == field }) {
                diagnostics.report(line, "wording: '\(field)' is not a field this contract allows; only allowed fields are worded")
                continue
            }
            guard let text = value.scalar?.string, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                diagnostics.report(line, "wording.\(field) must be a sentence for the customer (text, not empty)")
                continue
            }
            wording[field] = text
        }
        return wording
    }

    // MARK: - Purpose and selection

    private mutating func loadConsent(_ map: YAMLMap) -> [String]? {
        guard let node = map.value("consent") else {
            diagnostics.report(map.line, "missing required key 'consent': a contract needs at least one consent scope, "
                               + "and every scope it names must be in force for a customer to be selected")
            return nil
        }
        guard let items = map.stringList(node, key: "consent", diagnostics: &diagnostics) else { return nil }
        guard !items.isEmpty else {
            diagnostics.report(node.mark?.line, "'consent' names no scope: a contract needs at least one consent scope, "
                               + "or it would export customers who never opted in")
            return nil
        }
        var scopes: [String] = []
        var seen: Set<String> = []
        for (scope, line) in items {
            let scope = scope.trimmingCharacters(in: .whitespaces)
            if scope.isEmpty {
                diagnostics.report(line, "a consent scope must not be empty")
            } else if !seen.insert(scope).inserted {
                diagnostics.report(line, "consent scope '\(scope)' is listed twice")
            } else {
                scopes.append(scope)
            }
        }
        return scopes
    }

    private mutating func loadAllow(_ map: YAMLMap) -> [AllowedField]? {
        guard let node = map.value("allow") else {
            diagnostics.report(map.line, "missing required key 'allow': list the fields the partner may receive and their forms")
            return nil
        }
        guard let allowMap = YAMLMap(node, path: "allow", diagnostics: &diagnostics) else { return nil }
        var fields: [AllowedField] = []
        for (field, line, value) in allowMap.entries {
            if let line { lines["allow.\(field)"] = line }
            if NeverExport.contains(field) {
                diagnostics.report(line, "allow: \(NeverExport.reason(for: field)); remove it")
                continue
            }
            guard let column = CustomerSchema.column(named: field) else {
                diagnostics.report(line, "allow: '\(field)' is not a column of customers. Columns: "
                                   + CustomerSchema.columnNames.filter { !NeverExport.contains($0) }.joined(separator: ", "))
                continue
            }
            guard let items = allowMap.stringList(value, key: field, diagnostics: &diagnostics) else { continue }
            if items.isEmpty {
                diagnostics.report(line, "allow.\(field) lists no form; remove the field or list its forms")
            }
            var forms: [Form] = []
            for (name, itemLine) in items {
                guard let form = Form(name: name) else {
                    diagnostics.report(itemLine, "allow.\(field): unknown form '\(name)'. Forms: clear, initial, prefixN "
                                       + "(N from 1 to \(Form.maximumPrefix)), year, sha256, pseudonym")
                    continue
                }
                guard form.applies(to: column.type) else {
                    diagnostics.report(itemLine, "allow.\(field): the form '\(name)' does not apply to \(field), a \(column.type.rawValue) "
                                       + "field; forms that do: \(Form.names(applicableTo: column.type).joined(separator: ", "))")
                    continue
                }
                if !forms.contains(form) { forms.append(form) }
            }
            fields.append(AllowedField(field: field, forms: forms))
        }
        if allowMap.entries.isEmpty {
            diagnostics.report(allowMap.line, "'allow' lists no field")
        }
        return fields
    }

    private mutating func loadFilters(_ map: YAMLMap) -> [Filter]? {
        guard let node = map.value("filters") else { return [] }
        guard let filterMap = YAMLMap(node, path: "filters", diagnostics: &diagnostics) else { return nil }
        var filters: [Filter] = []
        for (column, line, value) in filterMap.entries {
            if let line { lines["filters.\(column)"] = line }
            if NeverExport.contains(column) {
                diagnostics.report(line, "filters: \(NeverExport.reason(for: column)), not even to select customers; remove this filter")
                continue
            }
            guard let schemaColumn = CustomerSchema.column(named: column) else {
                diagnostics.report(line, "filters: '\(column)' is not a column of customers")
                continue
            }
            guard schemaColumn.type == .text || schemaColumn.type == .integer else {
                diagnostics.report(line, "filters: '\(column)' is a \(schemaColumn.type.rawValue) field; filters compare whole "
                                   + "text values, so only text and integer columns can be filtered")
                continue
            }
            guard let items = filterMap.stringList(value, key: column, diagnostics: &diagnostics) else { continue }
            guard !items.isEmpty else {
                diagnostics.report(line, "filters.\(column) lists no value, so no customer could be selected")
                continue
            }
            filters.append(Filter(column: column, values: items.map(\.value)))
        }
        return filters
    }

    // MARK: - Feed

    private mutating func loadFormat(_ map: YAMLMap) -> FeedFormat? {
        guard let text = map.requiredString("format", diagnostics: &diagnostics) else { return nil }
        guard let format = FeedFormat(rawValue: text) else {
            diagnostics.report(map.value("format")?.mark?.line, "format must be json or xml")
            return nil
        }
        return format
    }

    private mutating func loadXSD(_ map: YAMLMap, format: FeedFormat?) -> String? {
        guard let path = map.optionalString("xsd", diagnostics: &diagnostics) else { return nil }
        let line = map.value("xsd")?.mark?.line
        lines["xsd"] = line
        if format == .json {
            diagnostics.report(line, "xsd applies to XML feeds only; this contract's format is json")
        }
        let url = ConfigPaths.resolve(path, in: configDirectory)
        if !FileManager.default.isReadableFile(atPath: url.path) {
            diagnostics.report(line, "xsd '\(path)' is not a readable file (paths are relative to the config folder)")
        }
        return path
    }

    // MARK: - Delivery

    private mutating func loadDelivery(_ node: Node) -> DeliverySettings? {
        guard let map = YAMLMap(node, path: "delivery", diagnostics: &diagnostics) else { return nil }
        let before = diagnostics.problems.count
        map.reportUnknownKeys(allowed: Self.deliveryKeys, diagnostics: &diagnostics)

        let url = map.requiredString("url", diagnostics: &diagnostics)
        if let url { checkURL(url, line: map.value("url")?.mark?.line) }

        var method = HTTPMethod.post
        if let text = map.optionalString("method", diagnostics: &diagnostics) {
            if let parsed = HTTPMethod(rawValue: text.uppercased()) { method = parsed } else {
                diagnostics.report(map.value("method")?.mark?.line, "delivery.method must be POST or PUT")
            }
        }
        let headers = loadHeaders(map)
        let auth = map.value("auth").flatMap { loadAuth($0) }
        let signing = environmentName(map, "signing_secret_env")
        let pseudonym = environmentName(map, "pseudonym_key_env")
        let caFile = map.optionalString("ca_file", diagnostics: &diagnostics)
        let clientCert = map.optionalString("client_cert", diagnostics: &diagnostics)
        let clientKey = map.optionalString("client_key", diagnostics: &diagnostics)
        let keyPassword = environmentName(map, "client_key_password_env")
        if (clientCert == nil) != (clientKey == nil) {
            diagnostics.report(map.line, "delivery.client_cert and delivery.client_key go together: give both or neither")
        }
        for (key, path) in [("ca_file", caFile), ("client_cert", clientCert), ("client_key", clientKey)] {
            if let path { checkFile(path, key: key, line: map.value(key)?.mark?.line) }
        }
        if let clientKey, Self.isEncryptedKey(ConfigPaths.resolve(clientKey, in: configDirectory).path), keyPassword == nil {
            diagnostics.report(map.value("client_key")?.mark?.line,
                               "delivery.client_key is encrypted: name the environment variable that holds its passphrase with "
                               + "client_key_password_env (a run never prompts for it)")
        }
        if let clientCert, let clientKey {
            let certificatePath = ConfigPaths.resolve(clientCert, in: configDirectory).path
            let keyPath = ConfigPaths.resolve(clientKey, in: configDirectory).path
            if !Self.isEncryptedKey(keyPath), ClientCertificate.keyMatches(certificatePath: certificatePath, keyPath: keyPath) == false {
                diagnostics.report(map.value("client_key")?.mark?.line,
                                   "delivery.client_key is not the key of delivery.client_cert (their public keys differ): every "
                                   + "handshake would fail; name the key the certificate was issued for")
            }
        }
        if keyPassword != nil && clientKey == nil {
            diagnostics.report(map.value("client_key_password_env")?.mark?.line,
                               "delivery.client_key_password_env goes with delivery.client_key")
        }
        let pinned = map.optionalString("pinned_public_key", diagnostics: &diagnostics)
        if let pinned, !Self.isPinnedKey(pinned) {
            diagnostics.report(map.value("pinned_public_key")?.mark?.line,
                               "delivery.pinned_public_key must be 'sha256//' and a base64 SHA-256 (several joined by ';')")
        }
        var batch = BatchLimits.default
        if let batchNode = map.value("batch"), let batchMap = YAMLMap(batchNode, path: "delivery.batch", diagnostics: &diagnostics) {
            batchMap.reportUnknownKeys(allowed: Self.batchKeys, diagnostics: &diagnostics)
            let records = batchMap.optionalInt("max_records", in: 1...1_000_000, diagnostics: &diagnostics)
            let bytes = batchMap.optionalInt("max_bytes", in: 4096...1_073_741_824, diagnostics: &diagnostics)
            batch = BatchLimits(maxRecords: records ?? batch.maxRecords, maxBytes: bytes ?? batch.maxBytes)
        }
        let gzip = map.optionalBool("gzip", diagnostics: &diagnostics) ?? false
        let timeout = map.optionalInt("timeout_seconds", in: 1...3600, diagnostics: &diagnostics) ?? 60
        let attempts = map.optionalInt("max_attempts", in: 1...100, diagnostics: &diagnostics) ?? 5
        let shards = map.optionalInt("shards", in: 1...1024, diagnostics: &diagnostics) ?? 1
        var perMinute: Int?
        if let node = map.value("rate_limit"), let limit = YAMLMap(node, path: "delivery.rate_limit", diagnostics: &diagnostics) {
            limit.reportUnknownKeys(allowed: Self.rateLimitKeys, diagnostics: &diagnostics)
            perMinute = limit.optionalInt("requests_per_minute", in: 1...100_000, diagnostics: &diagnostics)
            if perMinute == nil && limit.value("requests_per_minute") == nil {
                diagnostics.report(limit.line, "delivery.rate_limit needs requests_per_minute (1–100,000)")
            }
        }
        let retryAfterCap = map.optionalInt("max_retry_after_seconds", in: 1...86_400, diagnostics: &diagnostics)
        for key in ["ca_file", "client_cert", "client_key"] {
            if let line = map.value(key)?.mark?.line { lines[key] = line }
        }
        guard diagnostics.problems.count == before, let url else { return nil }
        return DeliverySettings(url: url, method: method, headers: headers, auth: auth, signingSecretEnv: signing,
                                pseudonymKeyEnv: pseudonym, caFile: caFile, clientCert: clientCert, clientKey: clientKey,
                                clientKeyPasswordEnv: keyPassword, pinnedPublicKey: pinned, batch: batch, gzip: gzip,
                                timeoutSeconds: timeout, maxAttempts: attempts, shards: shards, requestsPerMinute: perMinute,
                                maxRetryAfterSeconds: retryAfterCap)
    }

    /// A TLS file a run will need: it must exist and be a regular file the tool can read.
    private mutating func checkFile(_ path: String, key: String, line: Int?) {
        let resolved = ConfigPaths.resolve(path, in: configDirectory).path
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            diagnostics.report(line, "delivery.\(key) '\(path)' does not exist (paths are relative to the config folder)")
            return
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            diagnostics.report(line, "delivery.\(key) '\(path)' is not a regular file")
            return
        }
        if access(resolved, R_OK) != 0 {
            diagnostics.report(line, "delivery.\(key) '\(path)' cannot be read by this user")
        }
    }

    /// Whether a PEM private key is encrypted (`ENCRYPTED PRIVATE KEY`, or a `Proc-Type: 4,ENCRYPTED`
    /// header). Only the markers are looked at; nothing of the key is ever shown.
    static func isEncryptedKey(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64 * 1024)) ?? Data()
        let text = String(decoding: head, as: UTF8.self)
        return text.contains("BEGIN ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED")
    }

    private mutating func checkURL(_ url: String, line: Int?, key: String = "delivery.url") {
        for problem in HTTPSURL.problems(url, key: key) { diagnostics.report(line, problem) }
    }

    private mutating func loadHeaders(_ map: YAMLMap) -> [DeliverySettings.Header] {
        guard let node = map.value("headers"),
              let headerMap = YAMLMap(node, path: "delivery.headers", diagnostics: &diagnostics) else { return [] }
        var headers: [DeliverySettings.Header] = []
        for (name, line, value) in headerMap.entries {
            if !Self.isToken(name) {
                diagnostics.report(line, "delivery.headers: '\(name)' is not a valid HTTP header name")
                continue
            }
            if Self.reservedHeaders.contains(name.lowercased()) {
                diagnostics.report(line, "delivery.headers: '\(name)' is set by partner-export itself and cannot be configured")
                continue
            }
            if InlineSecret.looksLikeSecretHeader(name) {
                diagnostics.report(line, "delivery.headers: '\(name)' looks like it carries a credential; headers are static and "
                                   + "never secret. Use delivery.auth: api_key {header: \(name), env: VARIABLE} for a key in a "
                                   + "header, or bearer_token_env, basic_user or oauth2. The value was not echoed.")
                continue
            }
            guard let scalar = value.scalar, !value.isNull else {
                diagnostics.report(line, "delivery.headers.\(name) must be a single text value")
                continue
            }
            if scalar.string.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                diagnostics.report(line, "delivery.headers.\(name) holds control characters")
                continue
            }
            headers.append(.init(name: name, value: scalar.string))
        }
        return headers
    }

    private mutating func loadAuth(_ node: Node) -> Authentication? {
        guard let map = YAMLMap(node, path: "delivery.auth", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.authKeys, diagnostics: &diagnostics)
        let bearerEnv = environmentName(map, "bearer_token_env")
        let bearerFile = map.optionalString("bearer_token_file", diagnostics: &diagnostics)
        let user = map.optionalString("basic_user", diagnostics: &diagnostics)
        let passwordEnv = environmentName(map, "basic_password_env")
        let passwordFile = map.optionalString("basic_password_file", diagnostics: &diagnostics)
        let apiKey = map.value("api_key")
        let oauth2 = map.value("oauth2")
        let present = [bearerEnv != nil, bearerFile != nil, user != nil, apiKey != nil, oauth2 != nil].filter { $0 }.count
        guard present == 1 else {
            diagnostics.report(map.line, "delivery.auth must hold exactly one of: bearer_token_env, bearer_token_file, "
                               + "basic_user with basic_password_env or basic_password_file, api_key, or oauth2")
            return nil
        }
        if let bearerEnv { return .bearerTokenEnv(bearerEnv) }
        if let bearerFile { return .bearerTokenFile(bearerFile) }
        if let apiKey { return loadAPIKey(apiKey) }
        if let oauth2 { return loadOAuth2(oauth2) }
        if let user {
            switch (passwordEnv, passwordFile) {
            case (let variable?, nil): return .basicPasswordEnv(user: user, variable: variable)
            case (nil, let path?): return .basicPasswordFile(user: user, path: path)
            default:
                diagnostics.report(map.line, "delivery.auth.basic_user needs exactly one of basic_password_env or basic_password_file")
            }
        }
        return nil
    }

    /// `api_key: {header: X-Api-Key, env: ACME_API_KEY}` (or `file:`); the key itself never in the file.
    private mutating func loadAPIKey(_ node: Node) -> Authentication? {
        if node.scalar != nil {
            diagnostics.report(node.mark?.line, InlineSecret.message(for: "delivery.auth.api_key"))
            return nil
        }
        guard let map = YAMLMap(node, path: "delivery.auth.api_key", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.apiKeyKeys, diagnostics: &diagnostics)
        let header = map.requiredString("header", diagnostics: &diagnostics)
        let secret = secretSource(map, env: "env", file: "file")
        guard let header else { return nil }
        let line = map.value("header")?.mark?.line
        guard Self.isToken(header) else {
            diagnostics.report(line, "delivery.auth.api_key.header: '\(header)' is not a valid HTTP header name")
            return nil
        }
        guard !Self.reservedHeaders.contains(header.lowercased()) else {
            diagnostics.report(line, "delivery.auth.api_key.header: '\(header)' is set by partner-export itself")
            return nil
        }
        guard let secret else { return nil }
        return .apiKey(header: header, secret: secret)
    }

    /// `oauth2: {token_url, client_id, client_secret_env | client_secret_file, scope, audience, client_auth}`.
    private mutating func loadOAuth2(_ node: Node) -> Authentication? {
        guard let map = YAMLMap(node, path: "delivery.auth.oauth2", diagnostics: &diagnostics) else { return nil }
        let before = diagnostics.problems.count
        map.reportUnknownKeys(allowed: Self.oauth2Keys, diagnostics: &diagnostics)
        let tokenURL = map.requiredString("token_url", diagnostics: &diagnostics)
        if let tokenURL { checkURL(tokenURL, line: map.value("token_url")?.mark?.line, key: "delivery.auth.oauth2.token_url") }
        let clientID = map.requiredString("client_id", diagnostics: &diagnostics)
        if let clientID, clientID.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            diagnostics.report(map.value("client_id")?.mark?.line, "delivery.auth.oauth2.client_id holds control characters")
        }
        let secret = secretSource(map, env: "client_secret_env", file: "client_secret_file")
        var texts: [String: String] = [:]
        for key in ["scope", "audience"] {
            guard let text = map.optionalString(key, diagnostics: &diagnostics) else { continue }
            if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                diagnostics.report(map.value(key)?.mark?.line, "delivery.auth.oauth2.\(key) holds control characters")
            }
            texts[key] = text
        }
        var clientAuth = OAuth2Client.ClientAuth.basic
        if let text = map.optionalString("client_auth", diagnostics: &diagnostics) {
            if let parsed = OAuth2Client.ClientAuth(rawValue: text) { clientAuth = parsed } else {
                diagnostics.report(map.value("client_auth")?.mark?.line,
                                   "delivery.auth.oauth2.client_auth must be basic (HTTP Basic, the default) or post (form fields)")
            }
        }
        guard diagnostics.problems.count == before, let tokenURL, let clientID, let secret else { return nil }
        return .oauth2(OAuth2Client(tokenURL: tokenURL, clientID: clientID, secret: secret, scope: texts["scope"],
                                    audience: texts["audience"], clientAuth: clientAuth))
    }

    /// Exactly one of `<env>` (an environment variable's name) and `<file>` (a path).
    private mutating func secretSource(_ map: YAMLMap, env: String, file: String) -> SecretSource? {
        let variable = environmentName(map, env)
        let path = map.optionalString(file, diagnostics: &diagnostics)
        switch (variable, path) {
        case (let variable?, nil): return .env(variable)
        case (nil, let path?): return .file(path)
        case (nil, nil) where map.value(env) != nil:
            return nil  // reported by environmentName
        default:
            diagnostics.report(map.line, "\(map.qualified(env)) or \(file): give exactly one (where the secret is read from)")
            return nil
        }
    }

    /// A `*_env` key: the name of an environment variable, never the secret itself.
    private mutating func environmentName(_ map: YAMLMap, _ key: String) -> String? {
        guard let name = map.optionalString(key, diagnostics: &diagnostics) else { return nil }
        guard InlineSecret.isEnvironmentVariableName(name) else {
            diagnostics.report(map.value(key)?.mark?.line,
                               "'\(map.qualified(key))' must name an environment variable (upper-case letters, digits and _). "
                               + "What is written there is not such a name; if it is the secret itself, remove it from the "
                               + "file and rotate it. The value was not echoed.")
            return nil
        }
        return name
    }

    private static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }

    private static func isPinnedKey(_ text: String) -> Bool {
        text.split(separator: ";", omittingEmptySubsequences: false).allSatisfy { part in
            let part = part.trimmingCharacters(in: .whitespaces)
            guard part.hasPrefix("sha256//") else { return false }
            let b64 = part.dropFirst(8)
            return b64.count == 44 && Data(base64Encoded: String(b64)) != nil
        }
    }
}
