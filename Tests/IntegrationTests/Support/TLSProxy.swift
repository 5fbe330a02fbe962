import Foundation

/// A throw-away certificate authority and a server certificate for 127.0.0.1 (subjectAltName
/// IP:127.0.0.1), made with the `openssl` CLI in a folder of the test.
struct TestCertificates {
    /// The CA certificate (PEM): what a client gives `--ca-file` / `--cacert`.
    let caFile: String
    /// The server certificate (PEM), signed by the CA.
    let certificateFile: String
    /// The server's private key (PEM, unencrypted).
    let keyFile: String

    /// Makes a CA and a server certificate for `127.0.0.1` in `directory` (EC P-256 keys, valid 2 days).
    static func make(in directory: String, logDirectory: String) throws -> TestCertificates {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ca = directory + "/ca.pem", caKey = directory + "/ca.key"
        let csr = directory + "/server.csr", cert = directory + "/server.pem", key = directory + "/server.key"
        let ext = directory + "/server.ext"
        try """
        subjectAltName = IP:127.0.0.1
        basicConstraints = critical, CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth

        """.write(toFile: ext, atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=dofs integration test CA",
                                     "-addext", "basicConstraints=critical,CA:TRUE",
                                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2",
             "-extfile", ext],
        ]
        for args in steps {
            let outcome = try ChildProcess.run("openssl", args, logDirectory: logDirectory, timeout: 30)
            guard outcome.succeeded else {
                throw ChildProcess.Failure(description: "openssl \(args.joined(separator: " ")): \(outcome.termination) \(outcome.stderr)")
            }
        }
        return TestCertificates(caFile: ca, certificateFile: cert, keyFile: key)
    }
}

/// nginx terminating TLS on 127.0.0.1:PORT and proxying every request to a plain-HTTP upstream on
/// loopback (a control plane), with the usual proxy headers (Host, X-Real-IP, X-Forwarded-For,
/// X-Forwarded-Proto). Started with `daemon off` as our child and stopped by its PID, like `NginxOrigin`.
final class TLSProxy: @unchecked Sendable {
    let port: Int
    let upstreamPort: Int
    private let home: String
    private let process: ChildProcess

    init(scratch: ScratchDirectory, name: String = "tls-proxy", certificates: TestCertificates, upstreamPort: Int) throws {
        home = try scratch.directory(name)
        for sub in ["logs", "tmp"] { _ = try scratch.directory("\(name)/\(sub)") }
        port = try LoopbackPort.free()
        self.upstreamPort = upstreamPort
        let conf = "\(home)/nginx.conf"
        try """
        \(NginxConfig.main(home: home, workerConnections: 256))
        http {
            access_log \(home)/logs/access.log;
        \(NginxConfig.temporaryPaths(home: home))
            server {
                listen 127.0.0.1:\(port) ssl;
                ssl_certificate \(certificates.certificateFile);
                ssl_certificate_key \(certificates.keyFile);
                location / {
                    proxy_pass http://127.0.0.1:\(upstreamPort);
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Host $host:$server_port;
                    proxy_set_header X-Real-IP $remote_addr;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_set_header X-Forwarded-Proto https;
                }
            }
        }

        """.write(toFile: conf, atomically: true, encoding: .utf8)
        process = try NginxConfig.start(home: home, conf: conf, port: port, what: "TLS proxy (nginx)")
    }

    /// The URL clients use: `https://127.0.0.1:PORT`.
    var baseURL: String { "https://127.0.0.1:\(port)" }

    var accessLog: String { (try? String(contentsOfFile: "\(home)/logs/access.log", encoding: .utf8)) ?? "" }
    var errorLog: String { (try? String(contentsOfFile: "\(home)/logs/error.log", encoding: .utf8)) ?? "" }

    /// Stops nginx by its PID: SIGTERM, SIGKILL to its group after 5 s.
    func stop() { process.stop(grace: 5) }
}
