import Foundation

/// A serial executor with a thread of its own, for an actor whose work blocks on the disk.
///
/// The StreamEngine's batch commits wait on SQLite transactions and fsync (5–50 ms a batch under load). On the
/// shared cooperative pool — as many threads as cores, two on the machines this runs on — each of those waits took
/// a pool thread away from every device session, so a cuff's indication waited for a meter's stored records to be
/// committed *and* for a thread to be decoded on. Here the wait stalls only this thread; the kernel schedules it
/// beside the pool.
final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once the jobs enqueued so far have run (its actor is gone: no job can come after).
    func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
