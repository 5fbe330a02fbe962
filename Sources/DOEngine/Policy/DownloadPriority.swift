/// Whether the work of the current task is a foreground download (a reader is waiting) or a
/// background one (`dofs prefetch --background`): DO keeps separate bandwidth and delay policies for
/// each. A task-local value, so the fetch path learns it without any signature carrying it.
public enum DownloadPriority: Sendable, Hashable {
    case foreground, background

    /// Reads are foreground unless a caller says otherwise with `$current.withValue(.background)`.
    @TaskLocal public static var current: DownloadPriority = .foreground
}
