/// Replaces known secret values (AWS keys, tokens, passwords) in text that leaves the agent: replies,
/// events, logs. Short values are left alone: masking "1" everywhere would hide more than it protects.
package struct Redactor: Sendable {
    private var secrets: [String]

    package init(secrets: [String] = []) {
        self.secrets = secrets.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    package func adding(_ more: [String]) -> Redactor { Redactor(secrets: secrets + more) }

    package func redact(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) { out = out.replacingAll(secret, with: "***") }
        return out
    }
}
