import CCurl
import ExportCore
import Foundation

/// One request: a feed file to send under a delivery id.
public struct Upload: Sendable {
    public let deliveryID: String
    /// The feed as rendered: what the signature covers.
    public let payloadPath: String
    /// What goes on the wire: the payload, or its gzip.
    public let bodyPath: String
    public let contentType: String
    public let gzip: Bool

    public init(deliveryID: String, payloadPath: String, bodyPath: String, contentType: String, gzip: Bool) {
        self.deliveryID = deliveryID
        self.payloadPath = payloadPath
        self.bodyPath = bodyPath
        self.contentType = contentType
        self.gzip = gzip
    }
}

/// What one HTTP attempt came to.
public struct Exchange: Sendable {
    /// The HTTP status, when the partner answered.
    public let status: Int?
    /// libcurl's result code (0 when the transfer completed, whatever the status).
    public let curlCode: Int32
    /// libcurl's message when the transfer failed.
    public let error: String?
    /// Seconds from the answer's `Retry-After`, when it had one.
    public let retryAfter: Int?
    /// The first bytes of the partner's answer.
    public let answerPrefix: [UInt8]
    public let duration: Double
    /// Whether any of the request left this machine (so the partner may have received it).
    public let requestSent: Bool
}

/// The HTTPS client for one partner, over one reused libcurl handle (one connection kept alive).
///
/// HTTPS only, peer and host verification always on, TLS 1.2 or later, optional CA file, client
/// certificate and pinned public key, no redirects (a 3xx is an answer, never followed), connect
/// timeout 10 s plus the contract's per-request timeout, no signals.
public final class HTTPSClient {
    public static let connectTimeoutSeconds = 10
    /// How much of an answer is kept.
    public static let answerPrefixLimit = 512

    private let handle: CurlHandle
    private let settings: DeliverySettings
    private let credentials: Credentials
    private let staticHeaders: [String]

    public init(settings: DeliverySettings, credentials: Credentials, configDirectory: URL) throws {
        self.settings = settings
        self.credentials = credentials
        handle = try CurlHandle()
        func path(_ p: String) -> String { p.hasPrefix("/") ? p : configDirectory.appendingPathComponent(p).path }
        for (label, file) in [("ca_file", settings.caFile), ("client_cert", settings.clientCert), ("client_key", settings.clientKey)] {
            if let file, !FileManager.default.isReadableFile(atPath: path(file)) {
                throw DeliveryError.setup("delivery.\(label) \(path(file)) is not a readable file")
            }
        }
        try handle.set(CURLOPT_URL, settings.url)
        try handle.set(CURLOPT_PROTOCOLS_STR, "https")
        try handle.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        try handle.set(CURLOPT_FOLLOWLOCATION, 0)
        try handle.set(CURLOPT_SSL_VERIFYPEER, 1)
        try handle.set(CURLOPT_SSL_VERIFYHOST, 2)
        try handle.set(CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2)
        try handle.set(CURLOPT_NOSIGNAL, 1)
        try handle.set(CURLOPT_CONNECTTIMEOUT, Self.connectTimeoutSeconds)
        try handle.set(CURLOPT_TIMEOUT, settings.timeoutSeconds)
        try handle.set(CURLOPT_TCP_KEEPALIVE, 1)
        try handle.set(CURLOPT_USERAGENT, "partner-export/\(PartnerExportVersion.string)")
        if let ca = settings.caFile { try handle.set(CURLOPT_CAINFO, path(ca)) }
        if let cert = settings.clientCert, let key = settings.clientKey {
            try handle.set(CURLOPT_SSLCERT, path(cert))
            try handle.set(CURLOPT_SSLCERTTYPE, "PEM")
            try handle.set(CURLOPT_SSLKEY, path(key))
            try handle.set(CURLOPT_SSLKEYTYPE, "PEM")
        }
        if let pin = settings.pinnedPublicKey { try handle.set(CURLOPT_PINNEDPUBLICKEY, pin) }
        if let user = credentials.basicUser, let password = credentials.basicPassword {
            try handle.set(CURLOPT_HTTPAUTH, pe_curlauth_basic())
            try handle.set(CURLOPT_USERNAME, user)
            try handle.set(CURLOPT_PASSWORD, password)
        }
        switch settings.method {
        case .post: try handle.set(CURLOPT_POST, 1)
        case .put: try handle.set(CURLOPT_UPLOAD, 1)
        }
        staticHeaders = settings.headers.map { "\($0.name): \($0.value)" }
    }

    /// Sends `upload` once. Never throws for network or HTTP failures: they are in the ``Exchange``.
    public func send(_ upload: Upload, timestamp: Int64) throws -> Exchange {
        let fd = open(upload.bodyPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DeliveryError.payload("cannot open \(upload.bodyPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var stats = stat()
        guard fstat(fd, &stats) == 0 else { throw DeliveryError.payload("cannot stat \(upload.bodyPath)") }
        let size = Int64(stats.st_size)

        var lines = staticHeaders + [
            "Content-Type: \(upload.contentType)",
            "Idempotency-Key: \(upload.deliveryID)",
            "Expect:",
        ]
        if upload.gzip { lines.append("Content-Encoding: gzip") }
        if let token = credentials.bearerToken { lines.append("Authorization: Bearer \(token)") }
        if let key = credentials.signingKey {
            let signature = try WebhookSignature.sign(id: upload.deliveryID, timestamp: timestamp, bodyAt: upload.payloadPath, key: key)
            lines += ["webhook-id: \(upload.deliveryID)", "webhook-timestamp: \(timestamp)", "webhook-signature: \(signature)"]
        }
        let headers = CurlHeaders(lines)
        try handle.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headers.list))

        let source = UploadSource(fd: fd)
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
        switch settings.method {
        case .post: try handle.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: size)
        case .put: try handle.set(CURLOPT_INFILESIZE_LARGE, offset: size)
        }
        handle.errorBuffer.pointee = 0

        let started = DispatchTime.now().uptimeNanoseconds
        let code = withExtendedLifetime((headers, source, sink)) { curl_easy_perform(handle.raw) }
        let duration = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        try handle.set(CURLOPT_HTTPHEADER, pointer: nil)

        let status = handle.info(CURLINFO_RESPONSE_CODE)
        let retryAfter = handle.info(offset: CURLINFO_RETRY_AFTER)
        let sent = handle.info(CURLINFO_REQUEST_SIZE) > 0
        return Exchange(status: status > 0 ? status : nil, curlCode: Int32(code.rawValue),
                        error: code == CURLE_OK ? nil : handle.message(code),
                        retryAfter: retryAfter > 0 ? Int(clamping: retryAfter) : nil,
                        answerPrefix: sink.prefix, duration: duration, requestSent: sent)
    }
}

/// Streams the body from a file descriptor to libcurl.
final class UploadSource {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        while true {
            let n = Foundation.read(fd, buffer, capacity)
            if n >= 0 { return n }
            if errno != EINTR { return pe_curl_readfunc_abort() }
        }
    }

    func seek(offset: Int64, origin: Int32) -> Int32 {
        lseek(fd, off_t(offset), origin) < 0 ? 1 : 0
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
    public static let string = "0.1.0"
}
