/// The one place dofs's version is written: `dofs --version` prints it and every HTTP request
/// carries it in its User-Agent (`dofs/<version>`), so an origin's or cache server's log tells which
/// dofs asked.
public enum DofsVersion {
    public static let current = "0.10.0"

    /// The User-Agent of dofs's HTTP requests.
    public static var userAgent: String { "dofs/\(current)" }
}
