import CBuildInfo
import CCurl
import ExportCore
import Foundation

/// The HTTPS client for one partner, over one reused libcurl handle (one connection kept alive).
///
/// HTTPS only, peer and host verification always on, TLS 1.2 or later, optional CA file, client
/// certificate and pinned public key, no redirects (a 3xx is an answer, never followed), connect
/// timeout 10 s plus the contract's per-request timeout, no signals.
public final class HTTPSClient: Transport {
    public static let connectTimeoutSeconds = 10
    /// How much of an answer is kept.
    public static let answerPrefixLimit = 512

    private let handle: CurlHandle
    private let settings: DeliverySettings
    private let credentials: Credentials
    private let staticHeaders: [String]
    /// `auth.oauth2`: the access token, fetched and renewed as needed.
    private let tokens: OAuth2TokenSource?

    public init(settings: DeliverySettings, credentials: Credentials, configDirectory: URL) throws {
        self.settings = settings
        self.credentials = credentials
        handle = try CurlHandle()
        func path(_ p: String) -> String { p.hasPrefix("/") ? p : configDirectory.appendingPathComponent(p).path }
        for (label, file) in [("ca_file", settings.caFile), ("client_cert", settings.clientCert), ("client_key", settings.clientKey)] {
            if let file, !FileManager.default.isReadableFile(atPath: path(file)) {
                throw ExportError.credentials("delivery.\(label) \(path(file)) is not a readable file")
            }
        }
        try Self.configureTLS(handle, settings: settings, credentials: credentials, path: path)
        try handle.set(CURLOPT_URL, settings.url)
        try handle.set(CURLOPT_TIMEOUT, settings.timeoutSeconds)
        try handle.set(CURLOPT_TCP_KEEPALIVE, 1)
        // The presented chain is kept, so that a refused certificate can be described (subject, fingerprint).
        try handle.set(CURLOPT_CERTINFO, 1)
        if let pin = settings.pinnedPublicKey { try handle.set(CURLOPT_PINNEDPUBLICKEY, pin) }
        if let user = credentials.basicUser, let password = credentials.basicPassword {
            try handle.set(CURLOPT_HTTPAUTH, pe_curlauth_basic())
            try handle.set(CURLOPT_USERNAME, user)
            try handle.set(CURLOPT_PASSWORD, password)
        }
        if let oauth2 = credentials.oauth2 {
            tokens = try OAuth2TokenSource(client: oauth2.client, secret: oauth2.secret, timeoutSeconds: settings.timeoutSeconds) {
                try Self.configureTLS($0, settings: settings, credentials: credentials, path: path)
            }
        } else {
            tokens = nil
        }
        switch settings.method {
        case .post: try handle.set(CURLOPT_POST, 1)
        case .put: try handle.set(CURLOPT_UPLOAD, 1)
        }
        staticHeaders = settings.headers.map { "\($0.name): \($0.value)" }
    }

    /// What the delivery handle and the token endpoint's share: HTTPS only, verification on, TLS 1.2 or
    /// later, the contract's CA file and client certificate, no redirects, no signals, the connect timeout.
    /// (`pinned_public_key` pins the feed's host only: a token endpoint is often another host.)
    static func configureTLS(_ handle: CurlHandle, settings: DeliverySettings, credentials: Credentials,
                             path: (String) -> String) throws {
        try secure(handle, caFile: settings.caFile.map(path))
        try handle.set(CURLOPT_CONNECTTIMEOUT, connectTimeoutSeconds)
        if let cert = settings.clientCert, let key = settings.clientKey {
            try handle.set(CURLOPT_SSLCERT, path(cert))
            try handle.set(CURLOPT_SSLCERTTYPE, "PEM")
            try handle.set(CURLOPT_SSLKEY, path(key))
            try handle.set(CURLOPT_SSLKEYTYPE, "PEM")
            // Never a passphrase prompt on a terminal (it would hang a run holding the lock): the passphrase
            // comes from the environment, and without one an encrypted key is refused here.
            if let password = credentials.clientKeyPassword {
                try handle.set(CURLOPT_KEYPASSWD, password)
            } else if isEncryptedKey(path(key)) {
                throw ExportError.credentials("delivery.client_key \(path(key)) is encrypted: name the environment variable "
                                              + "holding its passphrase with client_key_password_env")
            } else {
                try handle.set(CURLOPT_KEYPASSWD, "")
            }
        }
    }

    /// The floor every request partner-export makes stands on (deliveries, tokens, notifications):
    /// HTTPS only, peer and host verification on, TLS 1.2 or later, no redirects, no signals, our
    /// User-Agent, and `caFile` when given.
    static func secure(_ handle: CurlHandle, caFile: String?) throws {
        try handle.set(CURLOPT_PROTOCOLS_STR, "https")
        try handle.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        try handle.set(CURLOPT_FOLLOWLOCATION, 0)
        try handle.set(CURLOPT_SSL_VERIFYPEER, 1)
        try handle.set(CURLOPT_SSL_VERIFYHOST, 2)
        try handle.set(CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2)
        try handle.set(CURLOPT_NOSIGNAL, 1)
        try handle.set(CURLOPT_USERAGENT, "partner-export/\(PartnerExportVersion.string)")
        if let caFile { try handle.set(CURLOPT_CAINFO, caFile) }
    }

    /// Whether a PEM private key is encrypted (its markers only; nothing of the key is read further).
    static func isEncryptedKey(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let text = String(decoding: (try? handle.read(upToCount: 64 * 1024)) ?? Data(), as: UTF8.self)
        return text.contains("BEGIN ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED")
    }

    /// Sends `upload` once, streaming its wire bytes from memory. Never throws for network or HTTP
    /// failures: they are in the ``Exchange``.
    public func send(_ upload: Upload, timestamp: Int64) throws -> Exchange {
        var lines = staticHeaders + [
            "Content-Type: \(upload.contentType)",
            "Idempotency-Key: \(upload.deliveryID)",
            "Expect:",
        ]
        if upload.gzip { lines.append("Content-Encoding: gzip") }
        if let checkpoint = upload.checkpoint { lines.append("Partner-Export-Checkpoint: \(checkpoint)") }
        if let token = credentials.bearerToken { lines.append("Authorization: Bearer \(token)") }
        if let apiKey = credentials.apiKey { lines.append("\(apiKey.header): \(apiKey.value)") }
        var freshToken = false
        if let tokens {
            switch tokens.current() {
            case .success(let current):
                lines.append("Authorization: Bearer \(current.token)")
                freshToken = current.fresh
            case .failure(let failure):
                // Nothing went to the partner's URL: no token, no request.
                let reason = failure.problem.sentence
                // The feed's URL did not answer: no status of its own (the token endpoint's is in the sentence).
                let retryAfter: Int? = if case .unavailable(_, let seconds) = failure.problem { seconds } else { nil }
                return Exchange(status: nil, curlCode: failure.curlCode, error: reason, retryAfter: retryAfter, requestSent: false,
                                tokenProblem: failure.problem)
            }
        }
        if let key = credentials.signingKey {
            let signature = WebhookSignature.sign(id: upload.deliveryID, timestamp: timestamp, feed: upload.feed, key: key)
            lines += ["webhook-id: \(upload.deliveryID)", "webhook-timestamp: \(timestamp)", "webhook-signature: \(signature)"]
        }
        let headers = CurlHeaders(lines)
        try handle.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headers.list))

        let source = UploadSource(upload.wire)
        let sink = AnswerSink(limit: Self.answerPrefixLimit)
        try handle.set(CURLOPT_READDATA, pointer: Unmanaged.passUnretained(source).toOpaque())
        try handle.set(CURLOPT_SEEKDATA, pointer: Unmanaged.passUnretained(source).toOpaque())
        try handle.set(CURLOPT_WRITEDATA, pointer: Unmanaged.passUnretained(sink).toOpaque())
        _ = pe_curl_setopt_data_callback(handle.raw, CURLOPT_READFUNCTION) { buffer, size, count, userdata in
            guard let buffer, let userdata else { return pe_curl_readfunc_abort() }
            return Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue().read(into: buffer, capacity: size * count)
        }
        _ = pe_curl_setopt_seek_callback(handle.raw) { userdata, offset, origin in
            guard let userdata else { return 2 }
            return Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue().seek(offset: Int64(offset), origin: origin)
        }
        _ = pe_curl_setopt_data_callback(handle.raw, CURLOPT_WRITEFUNCTION) { buffer, size, count, userdata in
            guard let buffer, let userdata else { return 0 }
            Unmanaged<AnswerSink>.fromOpaque(userdata).takeUnretainedValue().take(buffer, size * count)
            return size * count
        }
        let size = Int64(upload.wire.count)
        switch settings.method {
        case .post: try handle.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: size)
        case .put: try handle.set(CURLOPT_INFILESIZE_LARGE, offset: size)
        }
        handle.errorBuffer.pointee = 0
        handle.certificateRequested.pointee = 0

        let started = DispatchTime.now().uptimeNanoseconds
        let code = withExtendedLifetime((headers, source, sink)) { curl_easy_perform(handle.raw) }
        let duration = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        try handle.set(CURLOPT_HTTPHEADER, pointer: nil)

        let status = handle.info(CURLINFO_RESPONSE_CODE)
        let retryAfter = handle.info(offset: CURLINFO_RETRY_AFTER)
        let sent = handle.info(CURLINFO_REQUEST_SIZE) > 0 || handle.info(offset: CURLINFO_SIZE_UPLOAD_T) > 0
        // A 401 to a token used before: it expired or was revoked early; the next attempt fetches another.
        let renew = tokens != nil && status == 401 && !freshToken
        if renew { tokens?.invalidate() }
        let refusedTLS = [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_ISSUER_ERROR,
                          CURLE_SSL_INVALIDCERTSTATUS].contains(code)
        return Exchange(status: status > 0 ? status : nil, curlCode: Int32(code.rawValue),
                        error: code == CURLE_OK ? nil : handle.message(code),
                        retryAfter: retryAfter > 0 ? Int(clamping: retryAfter) : nil,
                        answerPrefix: sink.prefix, duration: duration, requestSent: sent,
                        clientCertificateMissing: status == 0 && handle.certificateRequested.pointee != 0,
                        peerCertificate: refusedTLS ? (Self.describeCertificate(pe_curl_first_certificate(handle.raw))
                                                       ?? probeCertificate()) : nil,
                        tokenRenewed: renew)
    }

    /// The certificate the server presents, read over a connection that verifies nothing and sends
    /// nothing (no request, no credentials, no client certificate): only to describe a certificate that
    /// verification refused before libcurl could keep it.
    func probeCertificate() -> String? {
        guard let probe = try? CurlHandle() else { return nil }
        guard (try? probe.set(CURLOPT_URL, settings.url)) != nil,
              (try? probe.set(CURLOPT_PROTOCOLS_STR, "https")) != nil,
              (try? probe.set(CURLOPT_CONNECT_ONLY, 1)) != nil,
              (try? probe.set(CURLOPT_SSL_VERIFYPEER, 0)) != nil,
              (try? probe.set(CURLOPT_SSL_VERIFYHOST, 0)) != nil,
              (try? probe.set(CURLOPT_CERTINFO, 1)) != nil,
              (try? probe.set(CURLOPT_NOSIGNAL, 1)) != nil,
              (try? probe.set(CURLOPT_CONNECTTIMEOUT, Self.connectTimeoutSeconds)) != nil,
              (try? probe.set(CURLOPT_TIMEOUT, Self.connectTimeoutSeconds)) != nil,
              curl_easy_perform(probe.raw) == CURLE_OK else { return nil }
        return Self.describeCertificate(pe_curl_first_certificate(probe.raw))
    }

    /// "subject …, issued by …, SHA-256 fingerprint AB:CD:…" from libcurl's certinfo lines.
    static func describeCertificate(_ list: UnsafeMutablePointer<curl_slist>?) -> String? {
        var fields: [String: String] = [:]
        var node = list
        while let current = node {
            if let data = current.pointee.data {
                let line = String(cString: data)
                if let colon = line.firstIndex(of: ":") {
                    fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
                }
            }
            node = current.pointee.next
        }
        guard let pem = fields["Cert"] else { return nil }
        let base64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let der = Data(base64Encoded: base64) else { return nil }
        var hasher = SHA256Hasher()
        hasher.update(Array(der))
        let hex = hasher.hexDigest().uppercased()
        let fingerprint = stride(from: 0, to: hex.count, by: 2).map { i -> String in
            let start = hex.index(hex.startIndex, offsetBy: i)
            return String(hex[start..<hex.index(start, offsetBy: 2)])
        }.joined(separator: ":")
        var parts: [String] = []
        if let subject = fields["Subject"] { parts.append("subject \(subject.trimmingCharacters(in: .whitespaces))") }
        if let issuer = fields["Issuer"] { parts.append("issued by \(issuer.trimmingCharacters(in: .whitespaces))") }
        parts.append("SHA-256 fingerprint \(fingerprint)")
        // What pinned_public_key would hold for it (a pin names the public key, not the certificate).
        if let pin = publicKeyPin(ofCertificate: Array(der)) { parts.append("public-key pin \(pin)") }
        return "a certificate with " + parts.joined(separator: ", ")
    }
}

/// Streams the body from memory to libcurl, piece after piece; libcurl may rewind it (a resend on a
/// reused connection that turned out dead).
final class UploadSource {
    private let parts: [[UInt8]]
    private var part = 0
    private var offset = 0

    init(_ bytes: FeedBytes) { parts = bytes.parts }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        var written = 0
        while written < capacity && part < parts.count {
            let piece = parts[part]
            let n = min(capacity - written, piece.count - offset)
            if n > 0 {
                piece.withUnsafeBytes { bytes in
                    (buffer + written).withMemoryRebound(to: UInt8.self, capacity: n) { target in
                        target.update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, count: n)
                    }
                }
                written += n
                offset += n
            }
            if offset >= piece.count {
                part += 1
                offset = 0
            }
        }
        return written
    }

    func seek(offset target: Int64, origin: Int32) -> Int32 {
        guard origin == SEEK_SET, target >= 0 else { return 1 }
        var remaining = Int(target)
        part = 0
        offset = 0
        while part < parts.count && remaining >= parts[part].count {
            remaining -= parts[part].count
            part += 1
        }
        offset = remaining
        return part < parts.count || remaining == 0 ? 0 : 1
    }
}

/// Keeps the first bytes of an answer and drops the rest.
final class AnswerSink {
    let limit: Int
    private(set) var prefix: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func take(_ buffer: UnsafeMutablePointer<CChar>, _ count: Int) {
        let room = limit - prefix.count
        guard room > 0 else { return }
        buffer.withMemoryRebound(to: UInt8.self, capacity: count) { bytes in
            prefix.append(contentsOf: UnsafeBufferPointer(start: bytes, count: min(room, count)))
        }
    }
}

/// The version string the User-Agent carries.
public enum PartnerExportVersion {
    /// From the VERSION file.
    public static let string = String(cString: pe_build_version())
    /// The commit the binary was built from ("unknown" for a plain `swift build`; `make install` and
    /// `make deb` say which).
    public static let commit = String(cString: pe_build_commit())
}
