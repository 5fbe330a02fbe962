import CCurl
import Foundation
import Synchronization

/// The thread that runs libcurl's multi interface for one `HTTPClient`.
///
/// Other threads only enqueue work (`submit`, `cancel`) and wake the loop with `curl_multi_wakeup`;
/// the loop thread alone adds and removes easy handles and resumes the waiting tasks.
final class CurlMultiLoop: @unchecked Sendable {
    private struct Pending {
        var toAdd: [CurlTransfer] = []
        var toCancel: [ObjectIdentifier] = []
        var stopping = false
    }

    private let multi: UnsafeMutableRawPointer
    private let pending = Mutex(Pending())
    /// Only touched by the loop thread.
    private var active: [ObjectIdentifier: CurlTransfer] = [:]
    private let stopped = DispatchSemaphore(value: 0)

    init() {
        multi = curl_multi_init()!
        // Keep enough idle connections for a readahead window per origin.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        let thread = Thread { [self] in run() }
        thread.name = "dofs-http"
        thread.start()
    }

    func submit(_ transfer: CurlTransfer) {
        pending.withLock { $0.toAdd.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func cancel(_ transfer: CurlTransfer) {
        pending.withLock { $0.toCancel.append(ObjectIdentifier(transfer)) }
        curl_multi_wakeup(multi)
    }

    func stop() {
        pending.withLock { $0.stopping = true }
        curl_multi_wakeup(multi)
        stopped.wait()
    }

    private func run() {
        var running: Int32 = 0
        while true {
            let work = pending.withLock { p -> Pending in
                let w = p
                p.toAdd.removeAll()
                p.toCancel.removeAll()
                return w
            }
            for t in work.toAdd {
                active[ObjectIdentifier(t)] = t
                curl_multi_add_handle(multi, t.easy)
            }
            for id in work.toCancel {
                guard let t = active.removeValue(forKey: id) else { continue }
                curl_multi_remove_handle(multi, t.easy)
                t.continuation?.resume(returning: .failure(.cancelled))
                t.continuation = nil
            }
            if work.stopping { break }

            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let msg = curl_multi_info_read(multi, &queued) {
                guard msg.pointee.msg == CURLMSG_DONE else { continue }
                let easy = msg.pointee.easy_handle!
                var priv: UnsafeMutableRawPointer?
                _ = ccurl_getinfo_ptr(easy, CURLINFO_PRIVATE, &priv)
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(priv!).takeUnretainedValue()
                let result = transfer.finish(code: ccurl_msg_result(msg))
                curl_multi_remove_handle(multi, easy)
                active.removeValue(forKey: ObjectIdentifier(transfer))
                transfer.continuation?.resume(returning: result)
                transfer.continuation = nil
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for t in active.values {
            curl_multi_remove_handle(multi, t.easy)
            t.continuation?.resume(returning: .failure(.cancelled))
            t.continuation = nil
        }
        active.removeAll()
        curl_multi_cleanup(multi)
        stopped.signal()
    }
}
