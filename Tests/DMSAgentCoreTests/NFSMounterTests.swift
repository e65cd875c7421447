import Testing

@testable import DMSAgentCore

struct NFSMounterTests {
    @Test(arguments: ["exec", "suid", "dev", "remount", "rw,exec", "bogus=1", "nolock,foo", "timeo=1;rm"])
    func dangerousNFSOptionsAreRefused(options: String) {
        if case .success = NFSMounter.validateOptions(options) { Issue.record("accepted \(options)") }
    }

    @Test func realNFSOptionsPass() throws {
        #expect(
            try NFSMounter.validateOptions("nolock,soft,timeo=600,intr,lookupcache=none,nfsvers=3,retrans=10").get()
                == "nolock,soft,timeo=600,intr,lookupcache=none,nfsvers=3,retrans=10")
        #expect(try NFSMounter.validateOptions(nil).get() == "defaults")
        #expect(try NFSMounter.validateExport("10.0.0.5:/backups").get() == "10.0.0.5:/backups")
        if case .success = NFSMounter.validateExport("-o exec:/x") { Issue.record("option injection accepted") }
    }
}
