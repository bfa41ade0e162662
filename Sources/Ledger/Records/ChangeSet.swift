import ExportCore

/// What one delivery changes in what its partner holds, once the partner acknowledges it: the
/// records it carries that are new or changed (key value and digest as sent), and the deletion
/// notices it carries. Stored compactly with the delivery (like its ``Manifest``) and applied in the
/// transaction that marks it delivered — never before a 2xx.
///
/// Wire form: varint(version 1), varint(records), per record zigzag-varint(id delta), 16 digest
/// bytes, varint(key length), key bytes; varint(notices), per notice zigzag-varint(id delta), one
/// reason byte, varint(key length), key bytes.
public struct ChangeSet: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        public let customerID: Int64
        public let key: [UInt8]
        public let digest: [UInt8]

        public init(customerID: Int64, key: [UInt8], digest: [UInt8]) {
            self.customerID = customerID
            self.key = key
            self.digest = digest
        }
    }

    public static let digestLength = 16

    public var records: [Record]
    public var notices: [DeletionNotice]

    public init(records: [Record] = [], notices: [DeletionNotice] = []) {
        self.records = records
        self.notices = notices
    }

    public var isEmpty: Bool { records.isEmpty && notices.isEmpty }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        var writer = Writer()
        for record in records {
            record.key.withUnsafeBytes { key in record.digest.withUnsafeBytes { writer.record(record.customerID, key: key, digest: $0) } }
        }
        for notice in notices { writer.notice(notice) }
        writer.finish(into: &out)
        return out
    }

    public init(decoding bytes: [UInt8]) throws {
        var records: [Record] = []
        var notices: [DeletionNotice] = []
        try bytes.withUnsafeBytes { raw in
            try Self.walk(raw, record: { id, key, digest in
                records.append(Record(customerID: id, key: KeyPacking.unpack(key), digest: Array(digest)))
            }, notice: { id, reason, key in
                notices.append(DeletionNotice(customerID: id, key: KeyPacking.unpack(key), reason: reason))
            })
        }
        self.records = records
        self.notices = notices
    }

    /// Builds the wire form record by record, with no value per record.
    public struct Writer: Sendable {
        private var recordBytes: [UInt8] = []
        private var noticeBytes: [UInt8] = []
        private var recordCount = 0
        private var noticeCount = 0
        private var previousRecord: Int64 = 0
        private var previousNotice: Int64 = 0
        private var packed: [UInt8] = []

        public init() {}

        public var isEmpty: Bool { recordCount == 0 && noticeCount == 0 }

        /// A new or changed record: its key (text, stored packed) and its digest (16 bytes).
        public mutating func record(_ id: Int64, key: UnsafeRawBufferPointer, digest: UnsafeRawBufferPointer) {
            Varint.putSigned(id &- previousRecord, &recordBytes)
            previousRecord = id
            let length = min(digest.count, ChangeSet.digestLength)
            recordBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digest[0..<length]))
            for _ in length..<ChangeSet.digestLength { recordBytes.append(0) }
            packed.removeAll(keepingCapacity: true)
            KeyPacking.pack(key, into: &packed)
            Varint.put(UInt64(packed.count), &recordBytes)
            recordBytes.append(contentsOf: packed)
            recordCount += 1
        }

        public mutating func notice(_ notice: DeletionNotice) {
            Varint.putSigned(notice.customerID &- previousNotice, &noticeBytes)
            previousNotice = notice.customerID
            noticeBytes.append(notice.reason.code)
            let key = KeyPacking.pack(notice.key)
            Varint.put(UInt64(key.count), &noticeBytes)
            noticeBytes.append(contentsOf: key)
            noticeCount += 1
        }

        public func finish(into out: inout [UInt8]) {
            guard !isEmpty else { return }
            Varint.put(1, &out)
            Varint.put(UInt64(recordCount), &out)
            out.append(contentsOf: recordBytes)
            Varint.put(UInt64(noticeCount), &out)
            out.append(contentsOf: noticeBytes)
        }
    }

    /// Reads an encoded change set without building values: `record(id, key, digest)` for each
    /// record, then `notice(id, reason, key)` for each notice (keys in their stored, packed form, as
    /// holdings keep them). An empty buffer holds nothing.
    public static func walk(_ bytes: UnsafeRawBufferPointer,
                            record: (Int64, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void,
                            notice: (Int64, DeletionReason, UnsafeRawBufferPointer) throws -> Void) throws {
        guard !bytes.isEmpty else { return }
        var reader = Varint.Reader(bytes: bytes, damaged: ChangeSetError())
        guard try reader.varint() == 1 else { throw ChangeSetError() }
        let records = try reader.varint()
        guard records <= UInt64(bytes.count) else { throw ChangeSetError() }
        var previous: Int64 = 0
        for _ in 0..<records {
            previous = previous &+ (try reader.signed())
            let digest = try reader.take(digestLength)
            let key = try reader.take(try reader.length())
            try record(previous, key, digest)
        }
        let notices = try reader.varint()
        guard notices <= UInt64(bytes.count) else { throw ChangeSetError() }
        previous = 0
        for _ in 0..<notices {
            previous = previous &+ (try reader.signed())
            guard let reason = DeletionReason(code: try reader.take(1)[0]) else { throw ChangeSetError() }
            let key = try reader.take(try reader.length())
            try notice(previous, reason, key)
        }
        guard reader.atEnd else { throw ChangeSetError() }
    }
}

public struct ChangeSetError: Error, CustomStringConvertible {
    public var description: String { "a delivery's change set in the ledger is damaged" }
}
