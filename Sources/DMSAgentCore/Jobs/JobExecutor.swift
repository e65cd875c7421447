package import DMSWire
import FoundationEssentials
import LinuxSupport
import VaultFuse

/// Decisions and effects of one request: request in, reply out. Everything it touches is one of the small
/// protocols it is given, so every reply code and text is unit-tested without a broker, root or FUSE.
package struct JobExecutor: Sendable {
    /// What the executor needs of the agent's configuration.
    package struct Options: Sendable {
        package var nodeID: String
        /// Requests whose AMQP timestamp is older are answered `expired`.
        package var maxRequestAge: Duration = .seconds(300)
        /// Global s3vaultfuse settings, under each secret's.
        package var s3EnvFile: String?
        package init(nodeID: String) { self.nodeID = nodeID }
    }

    /// What to do with a request.
    package enum Decision: Sendable, Equatable {
        case reply(JobReply)
        /// The requester gave up: not run, no reply.
        case abandoned
    }

    package let options: Options
    let targets: any TargetManaging
    let directories: any MountDirectories
    let secrets: any SecretFetching
    let nfs: any NFSMounting
    let requesters: any RequesterChecking
    /// Seconds since the epoch.
    let now: @Sendable () -> Double

    package init(
        options: Options, targets: any TargetManaging, directories: any MountDirectories, secrets: any SecretFetching,
        nfs: any NFSMounting, requesters: any RequesterChecking,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.options = options
        self.targets = targets
        self.directories = directories
        self.secrets = secrets
        self.nfs = nfs
        self.requesters = requesters
        self.now = now
    }

    /// `timestamp` and `replyTo` are the delivery's AMQP properties.
    package func decide(_ request: JobRequest, timestamp: UInt64?, replyTo: String?) async -> Decision {
        if let sent = timestamp, Double(sent) + options.maxRequestAge.seconds < now() {
            return .reply(
                error(
                    request, .expired,
                    ReplyText.expired(
                        ageSeconds: Int(now()) - Int(sent), limitSeconds: Int(options.maxRequestAge.seconds))))
        }
        if request.host != options.nodeID {
            return .reply(error(request, .wrongHost, ReplyText.wrongHost(request.host, node: options.nodeID)))
        }
        // Direct reply-to and requests without reply_to are not checked.
        if request.action != .status, let replyTo, !replyTo.isEmpty, !replyTo.hasPrefix("amq.rabbitmq.reply-to"),
            await requesters.isGone(replyTo: replyTo)
        {
            return .abandoned
        }
        StageMarks.mark("checked")
        return .reply(await execute(request))
    }

    package func execute(_ request: JobRequest) async -> JobReply {
        guard request.action != .status, let target = request.target else { return await status(request) }
        let path: String
        do {
            path = try targets.validate(targetID: target.id, mountPath: target.mountPath)
        } catch {
            return self.error(request, Self.replyCode(error.code), error.message)
        }
        switch (request.action, target.type) {
        case (.mount, .s3): return await mountS3(request, target, path: path)
        case (.unmount, .s3): return await unmountS3(request, target, path: path)
        case (.mount, .nfs): return await mountNFS(request, target, path: path)
        case (.unmount, .nfs): return await unmountNFS(request, path: path)
        case (.status, _): return await status(request)
        }
    }

    /// After the reply is out, still inside the target's turn (its next job waits): remove the mount directory of a
    /// target just unmounted when it is empty, as the original does. Kept off the reply's latency: rmdir of a
    /// directory that was a FUSE mount point a moment ago costs about half a millisecond.
    package func afterReply(_ reply: JobReply, to request: JobRequest) {
        guard request.action == .unmount, reply.code == .ok, let path = reply.mountPath,
            reply.successMsg == ReplyText.unmounted(path)
        else { return }
        directories.removeIfEmpty(path)
    }

    func status(_ request: JobRequest) async -> JobReply {
        var reply = success(request, ReplyText.status(node: options.nodeID))
        reply.stats = await targets.stats()
        return reply
    }

    func mountS3(_ request: JobRequest, _ target: JobRequest.Target, path: String) async -> JobReply {
        if let pid = targets.mountedPID(targetID: target.id, at: path) {
            return success(request, ReplyText.alreadyMounted(path), mountPath: path, pid: pid)
        }
        var fileSettings: [String: String] = [:]
        if let file = options.s3EnvFile {
            do { fileSettings = try EnvFile.read(file) } catch {
                return self.error(request, .internalError, ReplyText.unreadableS3Settings(file))
            }
        }
        var payload: [String: JSONValue] = [:]
        var redactor = Redactor()
        if let ref = target.secretRef, !ref.isEmpty, let token = request.keystoneToken, !token.isEmpty {
            redactor = redactor.adding([token])
            do {
                payload = try await secrets.fetchPayload(secretRef: ref, token: token)
                redactor = redactor.adding(BarbicanClient.secrets(in: payload))
            } catch {
                return self.error(request, .credentialsFailed, redactor.redact(ReplyText.credentialsFailed("\(error)")))
            }
        }
        let environment = S3VaultFuseEnvironment.build(payload: payload, file: fileSettings)
        redactor = redactor.adding(S3VaultFuseEnvironment.secrets(in: environment))
        do {
            switch try await targets.spawn(targetID: target.id, mountPath: path, environment: environment) {
            case .started(let pid): return success(request, ReplyText.s3Mounted(path), mountPath: path, pid: pid)
            case .alreadyRunning(let pid):
                return success(request, ReplyText.alreadyMounted(path), mountPath: path, pid: pid)
            }
        } catch {
            var reply = self.error(request, Self.replyCode(error.code), redactor.redact(error.message), mountPath: path)
            reply.detail = error.logTail.map { redactor.redact($0) }
            return reply
        }
    }

    func unmountS3(_ request: JobRequest, _ target: JobRequest.Target, path: String) async -> JobReply {
        do {
            switch try await targets.stop(targetID: target.id, mountPath: path) {
            case .stopped(let pid, let mountPath):
                return success(request, ReplyText.unmounted(mountPath), mountPath: mountPath, pid: pid)
            case .notRunning:
                switch try await targets.clearStaleMount(at: path, targetID: target.id) {
                case .nothingMounted, .clearedDead:
                    return success(request, ReplyText.notMounted(path), mountPath: path)
                case .unmountedLive(let what):
                    var reply = success(request, ReplyText.unmounted(path), mountPath: path)
                    reply.detail = what
                    return reply
                }
            }
        } catch {
            let text = error.code == .unmountBusy ? ReplyText.unmountBusy(path) : ReplyText.unmountError(error.message)
            return self.error(request, Self.replyCode(error.code), text, mountPath: path)
        }
    }

    func mountNFS(_ request: JobRequest, _ target: JobRequest.Target, path: String) async -> JobReply {
        let export: String
        let options: String
        switch NFSMounter.validateExport(target.filesystemExport) {
        case .failure(let r): return error(request, .invalidRequest, r.message, mountPath: path)
        case .success(let e): export = e
        }
        switch NFSMounter.validateOptions(target.nfsMountOptions) {
        case .failure(let r): return error(request, .invalidRequest, r.message, mountPath: path)
        case .success(let o): options = o
        }
        if let fsType = nfs.fsType(at: path) {
            if fsType.hasPrefix("nfs") { return success(request, ReplyText.alreadyMounted(path), mountPath: path) }
            return error(request, .conflict, ReplyText.pathHoldsOther(path, fsType: fsType), mountPath: path)
        }
        do { try directories.prepare(path) } catch {
            return self.error(request, Self.replyCode(error.code), error.message, mountPath: path)
        }
        let result = await nfs.mount(export: export, path: path, options: options)
        if result.status == 0 { return success(request, ReplyText.nfsMounted(path), mountPath: path) }
        return error(request, .mountFailed, ReplyText.nfsMountFailed(result.output), mountPath: path)
    }

    func unmountNFS(_ request: JobRequest, path: String) async -> JobReply {
        guard nfs.fsType(at: path)?.hasPrefix("nfs") == true else {
            return success(request, ReplyText.notMounted(path), mountPath: path)
        }
        let result = await nfs.unmount(path: path)
        if result.status == 0 { return success(request, ReplyText.unmounted(path), mountPath: path) }
        return error(request, .unmountFailed, ReplyText.unmountFailed(result.output), mountPath: path)
    }

    // MARK: Replies

    func success(_ r: JobRequest, _ text: String, mountPath: String? = nil, pid: Int32? = nil) -> JobReply {
        JobReply(
            status: .success, errorMsg: nil, successMsg: text, nodeID: options.nodeID, targetID: r.target?.id,
            jobID: r.jobID, mountPath: mountPath, pid: pid, code: .ok)
    }

    func error(_ r: JobRequest, _ code: ReplyCode, _ text: String, mountPath: String? = nil) -> JobReply {
        .failure(code, text, nodeID: options.nodeID, targetID: r.target?.id, jobID: r.jobID, mountPath: mountPath)
    }

    static func replyCode(_ code: VaultFuseError.Code) -> ReplyCode {
        switch code {
        case .invalidTargetID: return .invalidTargetID
        case .pathOutsideBase: return .pathOutsideBase
        case .invalidPath: return .invalidRequest
        case .conflict: return .conflict
        case .spawnFailed, .exitedBeforeMount, .pidFileFailed: return .spawnFailed
        case .mountTimeout: return .mountTimeout
        case .unmountBusy: return .unmountBusy
        case .unmountFailed: return .unmountFailed
        // lockHeld, io and any code added later: the agent's own trouble, not the request's.
        default: return .internalError
        }
    }
}
