/// The parts every nginx the tests start shares, and how it is started: a foreground master with
/// one worker, running as root, and every file (pid, logs, temporary bodies) under the instance's own
/// folder `home`, so several instances never touch each other's files or the system's.
enum NginxConfig {
    /// The main context: everything before `http {`.
    static func main(home: String, workerConnections: Int) -> String {
        """
        daemon off;
        master_process on;
        user root;
        worker_processes 1;
        pid \(home)/nginx.pid;
        error_log \(home)/logs/error.log info;
        events { worker_connections \(workerConnections); }
        """
    }

    /// The temporary folders of the http context, indented for it.
    static func temporaryPaths(home: String) -> String {
        ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { kind in
            "    \(kind)_temp_path \(home)/tmp/\(kind == "client_body" ? "body" : kind);"
        }.joined(separator: "\n")
    }

    /// Starts nginx's master on `conf` (its files under `home`) and waits, 10 s at most, until `port`
    /// accepts; a master that dies or never listens is stopped and reported, naming `what`.
    static func start(home: String, conf: String, port: Int, what: String) throws -> ChildProcess {
        let child = try ChildProcess("/usr/sbin/nginx", ["-p", home + "/", "-c", conf, "-e", "stderr"],
                                     stdoutPath: "\(home)/logs/stdout.log", stderrPath: "\(home)/logs/stderr.log")
        let up = waitUntil(timeout: 10) { !child.isRunning || LoopbackPort.accepts(port) }
        guard up, child.isRunning else {
            child.stop(grace: 1)
            throw ChildProcess.Failure(description: "\(what) did not start on port \(port): \(child.standardError)")
        }
        return child
    }
}
