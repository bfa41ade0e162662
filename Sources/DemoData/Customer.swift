import ExportCore
import SQLite

/// One synthetic customer and their consents and logs.
struct Customer {
    struct Consent {
        let scope: String
        let grantedAt: String
        let withdrawnAt: String?
        let source: String
    }

    var values: [Value]
    var status: String
    var consents: [Consent]
    var logs: [(at: String, event: String)]

    static func make(id: Int64, random: inout SplitMix64) -> Customer {
        let first = random.pick(Names.first)
        let last = random.pick(Names.last)
        let place = random.pick(Places.all)
        let created = random.below(Timestamps.span)
        let updated = created + random.below(Timestamps.span - created + 1)
        let status = random.chance(88) ? "active" : (random.chance(60) ? "suspended" : "closed")
        let email = "\(first.ascii).\(last.ascii)\(id)@\(random.pick(["example.com", "example.org", "example.net"]))"
        let phone: Value = random.chance(80) ? .text(place.phonePrefix + String(100_000_000 + random.below(899_999_999))) : .null
        let street: Value = random.chance(90) ? .text("\(1 + random.below(220)) \(random.pick(Places.streets))") : .null
        let card = random.chance(70) ? random.pick(Cards.testNumbers) : nil
        let expiry = card.map { _ in String(format2(1 + random.below(12))) + "/" + String(27 + random.below(5)) }
        let services = (0..<random.below(5)).map { _ in random.pick(Services.codes) }
        let uniqueServices = services.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let servicesJSON = "[" + uniqueServices.map { "\"\($0)\"" }.joined(separator: ",") + "]"

        var consents: [Consent] = []
        for (scope, percent) in [("partner-offers", 55), ("partner-programs", 30)] where random.chance(percent) {
            let granted = created + random.below(Timestamps.span - created + 1)
            let withdrawn = random.chance(10) ? Timestamps.format(granted + random.below(Timestamps.span - granted + 1)) : nil
            consents.append(Consent(scope: scope, grantedAt: Timestamps.format(granted), withdrawnAt: withdrawn,
                                    source: random.pick(["order-form", "web", "support"])))
        }
        let logs = (0..<(1 + random.below(3))).map { _ in
            (at: Timestamps.format(created + random.below(Timestamps.span - created + 1)),
             event: random.pick(["login", "password-reset", "plan-change", "support-call", "invoice-sent"]))
        }
        return Customer(
            values: [
                .integer(id), .text(first.display), .text(last.display), .text(email), phone, street,
                .text(place.city), place.region.map { .text($0) } ?? .null, .text(place.postalCode(&random)),
                .text(place.country), card.map { .text($0) } ?? .null, expiry.map { .text($0) } ?? .null,
                .text(status), .text(servicesJSON), .text(Timestamps.format(created)), .text(Timestamps.format(updated)),
            ],
            status: status, consents: consents, logs: logs)
    }

    private static func format2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

enum Timestamps {
    /// 2015-01-01T00:00:00Z.
    static let start = 1_420_070_400
    /// Up to 2026-10-31.
    static let span = 1_792_972_800 - 1_420_070_400

    static func format(_ offset: Int) -> String { UTCTime.format(Double(start + offset)) }
}

enum Cards {
    /// Published test card numbers (Visa, Mastercard, Amex, Discover test PANs): never real cards.
    static let testNumbers = ["4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100",
                              "378282246310005", "6011111111111117"]
}

enum Services {
    static let codes = ["email", "broadband", "mobile", "tv", "cloud-storage", "support-plus"]
}

enum Names {
    struct Name: Sendable {
        let display: String
        let ascii: String
    }

    static let first: [Name] = [
        ("Anna", "anna"), ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"), ("Søren", "soren"),
        ("Chloé", "chloe"), ("Mohammed", "mohammed"), ("Yuki", "yuki"), ("Aoife", "aoife"), ("Björn", "bjorn"),
        ("Émile", "emile"), ("Priya", "priya"), ("Liam", "liam"), ("Olivia", "olivia"), ("Noah", "noah"),
        ("Mia", "mia"), ("Mateo", "mateo"), ("Sofía", "sofia"), ("Chen", "chen"), ("Fatima", "fatima"),
        ("Ngozi", "ngozi"), ("Ingrid", "ingrid"), ("Dmitri", "dmitri"), ("Hannah", "hannah"), ("Kai", "kai"),
        ("Lucía", "lucia"), ("Oskar", "oskar"), ("Amélie", "amelie"), ("Tomás", "tomas"), ("Leila", "leila"),
        ("יעל", "yael"), ("سارة", "sara"),
    ].map { Name(display: $0.0, ascii: $0.1) }

    static let last: [Name] = [
        ("Smith", "smith"), ("O'Brien", "obrien"), ("Müller", "muller"), ("García", "garcia"), ("Nowak", "nowak"),
        ("Jensen", "jensen"), ("Dubois", "dubois"), ("Khan", "khan"), ("Tanaka", "tanaka"), ("Murphy", "murphy"),
        ("Lindqvist", "lindqvist"), ("Rossi", "rossi"), ("van der Berg", "vanderberg"), ("Okafor", "okafor"),
        ("Petrov", "petrov"), ("Nguyễn", "nguyen"), ("Fernández", "fernandez"), ("Schmidt", "schmidt"),
        ("Kowalski", "kowalski"), ("Martin", "martin"), ("Silva", "silva"), ("Johansson", "johansson"),
        ("Wong", "wong"), ("Cohen", "cohen"), ("Haddad", "haddad"), ("Brown & Sons", "brownsons"),
    ].map { Name(display: $0.0, ascii: $0.1) }
}

enum Places {
    struct Place: Sendable {
        let country: String
        let city: String
        let region: String?
        let phonePrefix: String
        let postal: @Sendable (inout SplitMix64) -> String

        func postalCode(_ random: inout SplitMix64) -> String { postal(&random) }
    }

    static func digits(_ n: Int, _ random: inout SplitMix64) -> String {
        (0..<n).map { _ in String(random.below(10)) }.joined()
    }

    static func letters(_ n: Int, _ random: inout SplitMix64) -> String {
        String((0..<n).map { _ in Character(Unicode.Scalar(UInt8(65 + random.below(26)))) })
    }

    static let all: [Place] = [
        Place(country: "GB", city: "London", region: "England", phonePrefix: "+447") { r in
            letters(2, &r) + String(1 + r.below(9)) + " " + String(r.below(10)) + letters(2, &r) },
        Place(country: "GB", city: "Manchester", region: "England", phonePrefix: "+447") { r in
            "M" + String(1 + r.below(40)) + " " + String(r.below(10)) + letters(2, &r) },
        Place(country: "DE", city: "Berlin", region: "Berlin", phonePrefix: "+491") { r in "1" + digits(4, &r) },
        Place(country: "DE", city: "München", region: "Bayern", phonePrefix: "+491") { r in "8" + digits(4, &r) },
        Place(country: "FR", city: "Paris", region: "Île-de-France", phonePrefix: "+336") { r in "750" + digits(2, &r) },
        Place(country: "FR", city: "Lyon", region: "Auvergne-Rhône-Alpes", phonePrefix: "+336") { r in "690" + digits(2, &r) },
        Place(country: "NL", city: "Amsterdam", region: "Noord-Holland", phonePrefix: "+316") { r in
            "10" + digits(2, &r) + " " + letters(2, &r) },
        Place(country: "SE", city: "Göteborg", region: "Västra Götaland", phonePrefix: "+467") { r in
            "41" + digits(1, &r) + " " + digits(2, &r) },
        Place(country: "US", city: "Springfield", region: "IL", phonePrefix: "+1217") { r in "627" + digits(2, &r) },
        Place(country: "US", city: "Portland", region: "OR", phonePrefix: "+1503") { r in "972" + digits(2, &r) },
        Place(country: "JP", city: "東京", region: "東京都", phonePrefix: "+8190") { r in "1" + digits(2, &r) + "-" + digits(4, &r) },
        Place(country: "IE", city: "Dublin", region: nil, phonePrefix: "+3538") { r in "D" + String(1 + r.below(24)) },
        Place(country: "ES", city: "Sevilla", region: "Andalucía", phonePrefix: "+346") { r in "410" + digits(2, &r) },
    ]

    static let streets = ["High Street", "Station Road", "Hauptstraße", "Rue de la Paix", "Keizersgracht",
                          "Main Street", "Calle Mayor", "Kungsgatan", "Church Lane", "Market Square", "Elm Avenue"]
}
