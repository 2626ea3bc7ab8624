import MTASTS
import Testing
@testable import Delivery

/// The per-destination TLS decision (RFC 8461 §4, §5).
struct OutboundTLSRequirementTests {
    let patterns = [MXPattern("mx.example.com")!, MXPattern("*.example.net")!]

    @Test func strongestSourceWins() {
        let enforce = MTASTSPolicy(mode: .enforce, mx: patterns, maxAge: 60)
        let testing = MTASTSPolicy(mode: .testing, mx: patterns, maxAge: 60)
        let none = MTASTSPolicy(mode: .none, mx: [], maxAge: 60)
        #expect(OutboundTLSRequirement.decide(configured: .opportunistic, mtaSTS: enforce) == .mtaSTSEnforce(enforce))
        #expect(OutboundTLSRequirement.decide(configured: .required, mtaSTS: testing) == .mtaSTSTesting(testing))
        #expect(OutboundTLSRequirement.decide(configured: .required, mtaSTS: none) == .configured(.required))
        #expect(OutboundTLSRequirement.decide(configured: .none, mtaSTS: nil) == .configured(.none))
    }

    @Test func enforceAdmitsOnlyPolicyHosts() {
        let requirement = OutboundTLSRequirement.mtaSTSEnforce(MTASTSPolicy(mode: .enforce, mx: patterns, maxAge: 60))
        #expect(requirement.admits(mxHost: "mx.example.com"))
        #expect(requirement.admits(mxHost: "a.example.net"))
        #expect(!requirement.admits(mxHost: "mx.evil.test"))
        #expect(!requirement.wouldRefuse(mxHost: "mx.evil.test"))
    }

    @Test func testingAdmitsAllButReports() {
        let requirement = OutboundTLSRequirement.mtaSTSTesting(MTASTSPolicy(mode: .testing, mx: patterns, maxAge: 60))
        #expect(requirement.admits(mxHost: "mx.evil.test"))
        #expect(requirement.wouldRefuse(mxHost: "mx.evil.test"))
        #expect(!requirement.wouldRefuse(mxHost: "mx.example.com"))
    }

    @Test func enforceDemandsVerifiedTLSForTheMXName() {
        let requirement = OutboundTLSRequirement.mtaSTSEnforce(MTASTSPolicy(mode: .enforce, mx: patterns, maxAge: 60))
        let options = requirement.options(ClientOptions(heloName: "me.test"), host: "mx.example.com", trustRootsFile: "/ca.pem")
        #expect(options.tlsPolicy == .required)
        #expect(options.verify == .full)
        #expect(options.tlsServerName == "mx.example.com")
        #expect(options.trustRootsFile == "/ca.pem")
        #expect(requirement.label == "mta-sts-enforce")
        #expect(requirement.poolKey("127.0.0.1:25", host: "MX.example.com") != "127.0.0.1:25")
    }

    @Test func configuredLeavesOptionsAlone() {
        let base = ClientOptions(heloName: "me.test", tlsPolicy: .opportunistic)
        let requirement = OutboundTLSRequirement.configured(.opportunistic)
        #expect(requirement.options(base, host: "mx.example.com", trustRootsFile: "/ca.pem") == base)
        #expect(requirement.poolKey("127.0.0.1:25", host: "mx.example.com") == "127.0.0.1:25")
        #expect(requirement.label == "opportunistic")
    }
}
