import AMQP
import DMSAgentCore
import DMSSettings
import DMSWire
import VaultFuse

/// The invariants each fuzz target checks on one input: not only that nothing traps, but that what a parser
/// returns keeps its promise. A broken invariant traps (`check`), which libFuzzer records as a crash with its input;
/// the normal suites run every committed input through the same functions (FuzzCorpusTests).
package enum FuzzChecks {
    /// Every target by name, as `scripts/fuzz.sh` and the corpus folders name them.
    package static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "request": request, "dead-letter": deadLetter, "config-file": configFile, "transport-url": transportURL,
        "pid-file": pidFile, "mountinfo": mountinfo, "env-file": envFile, "barbican-env": barbicanEnvironment,
    ]

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("invariant broken: \(message())") }
    }

    /// A body through the whole parse to a `JobRequest` or a `RequestError`; a request survives being written out
    /// and read again unchanged.
    @Sendable package static func request(_ bytes: [UInt8]) {
        switch RequestParser.parse(bytes) {
        case .failure(let error): check(!error.message.isEmpty, "an error without a message")
        case .success(let request):
            guard let json = try? JSONValue.parse(bytes) else { return check(false, "parsed without JSON") }
            let again = RequestParser.parse(json.serialized)
            check(again == .success(request), "re-encoded request parses differently: \(again)")
            if let target = request.target {
                // The id and the path are judged by the manager before it builds any path (TargetID,
                // MountPathPolicy: `invalid_target_id`, `path_outside_base`); the parser keeps them as sent.
                check(!target.mountPath.isEmpty, "an empty mount path passed")
            }
        }
    }

    /// The scrubbed body holds no value of the input's secret keys, at any depth.
    @Sendable package static func deadLetter(_ bytes: [UInt8]) {
        let scrubbed = DeadLetter.scrub(bytes)
        guard let input = try? JSONValue.parse(bytes) else {
            let text = String(decoding: bytes, as: UTF8.self).lowercased()
            let namesSecret = ["token", "password", "passwd", "secret", "credential", "private_key", "access_key"]
                .contains { text.contains($0) }
            check(!namesSecret || scrubbed != bytes, "a non-JSON body naming a secret key was kept")
            return
        }
        guard let output = try? JSONValue.parse(scrubbed) else { return check(false, "scrubbed JSON does not parse") }
        func secrets(_ value: JSONValue, into found: inout [String]) {
            switch value {
            case .object(let object):
                for (key, v) in object {
                    if DeadLetter.isSecretKey(key) { leaves(v, into: &found) } else { secrets(v, into: &found) }
                }
            case .array(let items): for item in items { secrets(item, into: &found) }
            default: break
            }
        }
        func leaves(_ value: JSONValue, into found: inout [String]) {
            switch value {
            case .string(let s): found.append(s)
            case .object(let object): for v in object.values { leaves(v, into: &found) }
            case .array(let items): for item in items { leaves(item, into: &found) }
            default: break
            }
        }
        func strings(_ value: JSONValue, into found: inout Set<String>) {
            switch value {
            case .string(let s): found.insert(s)
            case .object(let object):
                for (k, v) in object {
                    found.insert(k)
                    strings(v, into: &found)
                }
            case .array(let items): for item in items { strings(item, into: &found) }
            default: break
            }
        }
        var secretValues: [String] = []
        secrets(input, into: &secretValues)
        var remaining = Set<String>()
        strings(output, into: &remaining)
        // A secret equal to a key or a kept value elsewhere in the body is not a leak of this one.
        var elsewhere = Set<String>()
        strings(Self.withoutSecrets(input), into: &elsewhere)
        for secret in secretValues where secret != DeadLetter.redacted && !secret.isEmpty {
            check(!remaining.contains(secret) || elsewhere.contains(secret), "secret value kept: \(secret)")
        }
    }

    static func withoutSecrets(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (k, v) in object where !DeadLetter.isSecretKey(k) { out[k] = withoutSecrets(v) }
            return .object(out)
        case .array(let items): return .array(items.map(withoutSecrets))
        default: return value
        }
    }

    /// server.conf: every value the reader keeps is on the line its origin names, and the resolved report masks
    /// every secret key.
    @Sendable package static func configFile(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var files = ConfigFiles()
        files.add(text, path: "fuzz.conf")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (key, entry) in files.entries {
            check(entry.origin.line >= 1 && entry.origin.line <= lines.count, "line \(entry.origin.line) of \(key)")
            let line = lines[entry.origin.line - 1]
            check(line.contains("=") && line.contains(key), "\(key) is not on line \(entry.origin.line): \(line)")
        }
        let report = SettingsResolver(environment: [:], file: files).resolvedReport()
        for (key, entry) in files.entries
        where SettingsResolver.isMaskedKey(key) && entry.value.count >= 4 && !report.contains(entry.value + "    #") {
            // The masked row reads "key = ***": its value never appears as the row's value.
            check(!report.contains("= \(entry.value)    #"), "secret \(key) shown")
        }
    }

    /// A transport URL: on success every host is named and in range, and the password never reaches the
    /// configuration's description (what the log shows).
    @Sendable package static func transportURL(_ bytes: [UInt8]) {
        let url = String(decoding: bytes, as: UTF8.self)
        guard let config = try? AMQPConfiguration(url: url) else { return }
        check(!config.endpoints.isEmpty, "no endpoint")
        for endpoint in config.endpoints {
            check(!endpoint.host.isEmpty, "an empty host")
            check(endpoint.port > 0 && endpoint.port <= 65535, "port \(endpoint.port)")
        }
        // Masking is judged with a marker for every password: text of the URL elsewhere (a vhost, a user) that
        // happens to equal a password is not a leak.
        var marked = config
        let marker = "PW-MARKER-7f3a"
        marked.password = marker
        for i in marked.endpoints.indices where marked.endpoints[i].password != nil {
            marked.endpoints[i].password = marker
        }
        check(!marked.description.contains(marker), "password in the description: \(marked.description)")
    }

    /// A PID file: a PID is read only from decimal digits and at most one newline, and what the agent writes
    /// reads back as the same PID.
    @Sendable package static func pidFile(_ bytes: [UInt8]) {
        let digits = bytes.last == UInt8(ascii: "\n") ? bytes.dropLast() : bytes[...]
        let decimal = !digits.isEmpty && digits.allSatisfy { $0 >= 48 && $0 <= 57 } && digits.count <= 10
        let value = decimal ? Int64(String(decoding: digits, as: UTF8.self)) : nil
        let expected = value.flatMap { $0 > 1 && $0 <= Int64(Int32.max) ? Int32($0) : nil }
        check(
            PIDFileFormat.pid(in: bytes[...]) == expected,
            "\(bytes) read as \(String(describing: PIDFileFormat.pid(in: bytes[...])))")
        if let pid = expected {
            check(PIDFileFormat.pid(in: PIDFileFormat.bytes(of: pid)[...]) == pid, "round trip of \(pid)")
        }
    }

    /// mountinfo: any text parses without trapping, and a path escaped as the kernel escapes it comes back whole.
    @Sendable package static func mountinfo(_ bytes: [UInt8]) {
        _ = MountTable.parse(bytes)
        // The input as a mount point, escaped as the kernel does (`parsesEscapedMountPointsAndOptionalFields`
        // holds the kernel's own `\040`).
        guard !bytes.isEmpty, !bytes.contains(0) else { return }
        let escaped = MountTable.escape(String(decoding: bytes, as: UTF8.self))
        let line = Array("36 35 0:50 / ".utf8) + escaped + Array(" rw,relatime shared:1 - fuse.bindfs src rw\n".utf8)
        let entries = MountTable.parse(line)
        check(entries.count == 1, "one line, \(entries.count) entries")
        check(entries.first?.mountPoint == String(decoding: bytes, as: UTF8.self), "mount point changed")
        check(entries.first?.fsType == "fuse.bindfs" && entries.first?.propagation == ["shared:1"], "fields moved")
    }

    /// An env file: keys are never empty and hold neither `=` nor a line break; values hold no line break.
    @Sendable package static func envFile(_ bytes: [UInt8]) {
        let env = EnvFile.parse(String(decoding: bytes, as: UTF8.self))
        for (key, value) in env {
            check(!key.isEmpty && !key.contains("=") && !key.contains("\n"), "key \(key.debugDescription)")
            check(!value.contains("\n"), "value of \(key) spans lines")
        }
    }

    /// A Barbican payload becomes an environment execve can take: no empty key, no `=` in a key, no NUL anywhere,
    /// no empty value; the AWS secret is among the values to redact.
    @Sendable package static func barbicanEnvironment(_ bytes: [UInt8]) {
        guard let payload = (try? JSONValue.parse(bytes))?.object else { return }
        let env = S3VaultFuseEnvironment.build(payload: payload, file: [:])
        for (key, value) in env {
            check(!key.isEmpty && !key.contains("=") && !key.utf8.contains(0), "key \(key.debugDescription)")
            check(!value.isEmpty && !value.utf8.contains(0), "value of \(key): \(value.debugDescription)")
        }
        if let secret = env["AWS_SECRET_ACCESS_KEY"] {
            check(S3VaultFuseEnvironment.secrets(in: env).contains(secret), "the AWS secret is not redacted")
        }
    }
}
