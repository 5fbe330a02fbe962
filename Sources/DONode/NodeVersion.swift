/// The version a node reports in `dofs status`.
public enum NodeVersion {
    public static let current = "0.10.0-dev"
}
