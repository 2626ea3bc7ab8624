import Crypto
import Foundation
import SwiftASN1
import X509

/// Certificates made in the test: a CA, leaves it signs, a stranger's key.
struct DANETestCertificates {
    struct Issued {
        var certificate: Certificate
        var key: P256.Signing.PrivateKey
        var der: [UInt8]
    }

    static let hour: TimeInterval = 3600

    static func make(subject: String, names: [String], key: P256.Signing.PrivateKey = .init(), issuer: Issued? = nil,
                     isCA: Bool = false, notBefore: Date = Date() - hour, notAfter: Date = Date() + hour) throws -> Issued {
        let subjectName = try DistinguishedName { CommonName(subject) }
        var extensions = Certificate.Extensions()
        if isCA { try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true)) }
        if !names.isEmpty { try extensions.append(Certificate.Extension(SubjectAlternativeNames(names.map { .dnsName($0) }), critical: false)) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: issuer?.certificate.subject ?? subjectName, subject: subjectName,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(issuer?.key ?? key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Issued(certificate: certificate, key: key, der: serializer.serializedBytes)
    }
}
