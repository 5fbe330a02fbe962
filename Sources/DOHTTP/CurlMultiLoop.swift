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
        /// A wake-up was sent since the loop last took this work: the loop will take anything added
        /// before it does, so another wake-up would only cost a `send` and a pass of the loop.
        var wakeSent = false
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
        enqueue { $0.toAdd.append(transfer) }
    }

    func cancel(_ transfer: CurlTransfer) {
        enqueue { $0.toCancel.append(ObjectIdentifier(transfer)) }
    }

    func stop() {
        enqueue { $0.stopping = true }
        stopped.wait()
    }

    /// Adds work and wakes the loop, once for all the work added before it takes it: a prefetch of
    /// 16 small files submits 16 transfers together, and each wake-up was a `send` to libcurl's
    /// socket pair and a pass of the loop (one of the two `sendto` per small file a cold `cat` made).
    private func enqueue(_ add: (inout Pending) -> Void) {
        let wake = pending.withLock { p -> Bool in
            add(&p)
            defer { p.wakeSent = true }
            return !p.wakeSent
        }
        if wake { curl_multi_wakeup(multi) }
    }

    private func run() {
        var running: Int32 = 0
        while true {
            let work = pending.withLock { p -> Pending in
                let w = p
                p.toAdd.removeAll()
                p.toCancel.removeAll()
                p.wakeSent = false
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
