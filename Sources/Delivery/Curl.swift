import CCurl
import ExportCore
import Foundation

/// `curl_global_init`, exactly once per process, before any handle exists.
public enum CurlGlobal {
    private static let initialised: Bool = {
        // The index the certificate-request watcher keeps its flag under, taken before any thread needs it.
        curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK && pe_curl_certificate_request_index() >= 0
    }()

    static func ensure() throws {
        guard initialised else { throw ExportError.transportSetup("libcurl could not be initialised") }
    }

    /// The libcurl and TLS library versions, for `--version` and diagnostics.
    public static var versions: String { "libcurl \(String(cString: pe_curl_version())), \(String(cString: pe_curl_ssl_version()))" }
}

/// One libcurl easy handle: keeps its connection open between requests to the same partner.
final class CurlHandle {
    let raw: UnsafeMutableRawPointer
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(PE_CURL_ERROR_SIZE))
    /// Set by OpenSSL when the server asked for a client certificate and the handle had none.
    let certificateRequested = UnsafeMutablePointer<Int32>.allocate(capacity: 1)

    init() throws {
        try CurlGlobal.ensure()
        guard let raw = curl_easy_init() else { throw ExportError.transportSetup("libcurl could not create a handle") }
        self.raw = raw
        errorBuffer.initialize(repeating: 0, count: Int(PE_CURL_ERROR_SIZE))
        _ = pe_curl_setopt_pointer(raw, CURLOPT_ERRORBUFFER, errorBuffer)
        certificateRequested.initialize(to: 0)
        _ = pe_curl_watch_certificate_request(raw, certificateRequested)
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
        certificateRequested.deallocate()
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(pe_curl_setopt_long(raw, option, value), option)
    }

    /// libcurl copies strings it is given (since 7.17), so a temporary C string is enough.
    func set(_ option: CURLoption, _ value: String?) throws {
        try check(pe_curl_setopt_string(raw, option, value), option)
    }

    func set(_ option: CURLoption, offset: Int64) throws {
        try check(pe_curl_setopt_off_t(raw, option, curl_off_t(offset)), option)
    }

    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws {
        try check(pe_curl_setopt_pointer(raw, option, pointer), option)
    }

    func info(_ info: CURLINFO) -> Int {
        var value = 0
        _ = pe_curl_getinfo_long(raw, info, &value)
        return value
    }

    func info(offset info: CURLINFO) -> Int64 {
        var value: curl_off_t = 0
        _ = pe_curl_getinfo_off_t(raw, info, &value)
        return Int64(value)
    }

    /// The message of the last failure: libcurl's detail when it gave one, else the code's text.
    func message(_ code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    private func check(_ code: CURLcode, _ option: CURLoption) throws {
        guard code == CURLE_OK else {
            throw ExportError.transportSetup("libcurl refused option \(option.rawValue): \(String(cString: curl_easy_strerror(code)))")
        }
    }
}

/// A list of header lines for libcurl, freed with the list.
final class CurlHeaders {
    private(set) var list: UnsafeMutablePointer<curl_slist>?

    init(_ lines: [String]) {
        for line in lines { list = curl_slist_append(list, line) }
    }

    deinit { curl_slist_free_all(list) }
}
