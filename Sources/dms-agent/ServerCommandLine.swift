import ArgumentParser

/// The shipped server's command line. Every deploy tool starts `trilio-dms-server --config-file … [--config-file …]`;
/// the package links that name to this binary, and started under it without a subcommand the binary is
/// `dms-agent run`. oslo.config's and oslo.log's common flags the agent does not implement are refused by name with
/// what to do instead: ignoring one would leave an operator believing it took effect.
enum ServerCommandLine {
    static let serverName = "trilio-dms-server"

    /// oslo's common flags (oslo.config, oslo.log) and why each is not taken.
    static let refused: [String: String] = {
        let syslog = "logs go to log_file (rotated) or to stderr, which journald keeps"
        var table: [String: String] = [:]
        for flag in ["--use-syslog", "--nouse-syslog", "--syslog-log-facility", "--use-journal", "--nouse-journal"] {
            table[flag] = syslog
        }
        for flag in ["--use-json", "--nouse-json"] { table[flag] = "set log_format = json in the config file" }
        for flag in ["--use-eventlog", "--nouse-eventlog"] { table[flag] = "there is no Windows event log" }
        for flag in ["--log-config-append", "--log-config", "--log_config"] {
            table[flag] = "set log_file, log_level and log_format in the config file"
        }
        table["--log-date-format"] = "timestamps are RFC 3339 in UTC"
        for flag in ["--watch-log-file", "--nowatch-log-file"] { table[flag] = "send SIGHUP to reopen log_file" }
        table["--nodebug"] = "leave out --debug and set debug = false in the config file"
        for flag in ["--verbose", "-v", "--noverbose"] { table[flag] = "use --debug or log_level" }
        return table
    }()

    /// Flags whose oslo meaning differs from the agent's option of the same name: refused under the server's name.
    static let refusedAsServer: [String: String] = [
        "--log-dir": "oslo's --log-dir (the directory of log_file) is not taken: give log_file an absolute path",
        "--logdir": "oslo's --logdir (the directory of log_file) is not taken: give log_file an absolute path",
    ]

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// The arguments `DMSAgentCommand` parses, for a binary started as `program` with `arguments`.
    static func arguments(program: String, _ arguments: [String]) throws(Refusal) -> [String] {
        let asServer = program.split(separator: "/").last.map(String.init) == serverName
        let subcommands = DMSAgentCommand.configuration.subcommands.map { $0._commandName }
        var result = arguments
        if asServer, !(arguments.first.map { subcommands.contains($0) || $0 == "--version" } ?? false) {
            result.insert("run", at: 0)
        }
        guard result.first == "run" else { return result }
        let name = asServer ? serverName : "dms-agent run"
        for argument in result.dropFirst() {
            guard argument.hasPrefix("-") else { continue }
            let flag = String(argument.prefix { $0 != "=" })
            if flag == "--logfile" { continue }
            let reason = refused[flag] ?? (asServer ? refusedAsServer[flag] : nil)
            if let reason {
                throw Refusal(
                    description: "\(name): \(flag) is an oslo option dms-agent does not take: \(reason). "
                        + "It takes --config-file (repeatable), --config-dir, --debug and every option of "
                        + "'dms-agent run --help'.")
            }
        }
        // oslo.log's spelling of --log-file.
        return result.map {
            $0 == "--logfile" ? "--log-file" : $0.hasPrefix("--logfile=") ? "--log-file=" + $0.dropFirst(10) : $0
        }
    }
}
