import CLibXML2
import Foundation
import Synchronization

/// What libxml2 may read and print. It never fetches anything over the network (an XSD's
/// `xs:import`/`xs:include` of an http URL is refused), reads only files under the folders the
/// configuration lives in, and prints nothing itself: its messages reach us through the structured
/// handlers only, so that no line of an included file ever lands on standard error.
enum XMLSafety {
    /// The folders files may be read from (the config folder of each XSD compiled); set before parsing.
    private static let roots = Mutex<Set<String>>([])

    /// Adds `folder` (resolved) to the folders libxml2 may read from.
    static func allow(_ folder: String) {
        let resolved = URL(fileURLWithPath: folder).resolvingSymlinksInPath().standardizedFileURL.path
        _ = roots.withLock { $0.insert(resolved.hasSuffix("/") ? resolved : resolved + "/") }
    }

    static func isAllowed(_ path: String) -> Bool {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        return roots.withLock { $0.contains { resolved.hasPrefix($0) } }
    }

    /// Installed once, with libxml2's initialisation.
    static let loader: xmlExternalEntityLoader = { url, _, context in
        guard let url else { return nil }
        let text = String(cString: url)
        let path: String
        if text.hasPrefix("file://") {
            path = String(text.dropFirst(7))
        } else if text.contains("://") || text.hasPrefix("//") {
            return nil  // http, https, ftp, anything remote: never fetched
        } else {
            path = text
        }
        guard XMLSafety.isAllowed(path) else { return nil }
        return xmlNewInputFromFile(context, path)
    }

    /// For the calling thread: libxml2's default printer silenced (its handlers are per thread).
    static func silenceThread() {
        pe_xml_silence_generic_errors()
    }
}
