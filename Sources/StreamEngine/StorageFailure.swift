import Foundation
import GRDB
import Provenance
import TimeSeries

/// Why the engine cannot store readings right now: said in the log, `/metrics` and `gatewayd status`, so an operator
/// knows that devices are keeping their readings (nothing is confirmed) and what to do.
public enum StorageFailure: String, Sendable {
    /// ENOSPC, SQLite's "database or disk is full": storing resumes by itself once space is freed.
    case diskFull = "disk_full"
    /// EIO and its kind: the card or disk is failing.
    case ioError = "io_error"
    case other

    /// What an error from a batch's writes means for the operator.
    public init(_ error: any Error) {
        if let io = error as? StoreIOError {
            self = Self(errno: io.code)
        } else if case .io(let io)? = error as? StoreError {
            self = Self(errno: io.code)
        } else if case .io(let io)? = error as? LedgerError {
            self = Self(errno: io.code)
        } else if let sqlite = error as? DatabaseError {
            switch sqlite.resultCode {
            case .SQLITE_FULL: self = .diskFull
            case .SQLITE_IOERR: self = .ioError
            default: self = .other
            }
        } else {
            // An SQLite failure that reached here wrapped or re-described (seen in the failing-disk test as "disk I/O
            // error" classed as other, which flipped the io_error gauge back to 0): SQLite's own texts for
            // SQLITE_IOERR and SQLITE_FULL (sqlite3_errstr) still say which it is.
            let text = String(describing: error)
            self =
                text.contains("disk I/O error")
                ? .ioError : text.contains("database or disk is full") ? .diskFull : .other
        }
    }

    /// The reason to show for a failure classed as `self` while `shown` is shown. A failure that names no cause of its
    /// own (a ledger that refuses appends because an earlier one failed, a store closed after a failed write) follows
    /// from the one already shown, so it does not replace it: on a failing card the gauge kept flipping from
    /// `io_error` to `other` (seen in the failing-disk test) and told the operator less than it knew.
    public func following(_ shown: StorageFailure?) -> StorageFailure {
        self == .other ? shown ?? .other : self
    }

    init(errno code: Int32) {
        self = code == ENOSPC || code == EDQUOT || code == EFBIG ? .diskFull : code == EIO ? .ioError : .other
    }

    public var advice: String {
        switch self {
        case .diskFull:
            "the disk is full: no reading is confirmed, so devices keep theirs; storing resumes by itself once space is freed"
        case .ioError:
            "the disk fails writes (I/O error): no reading is confirmed, so devices keep theirs; replace the card (gatewayd backup first)"
        case .other: "a batch could not be stored; its readings were not confirmed, so devices keep them"
        }
    }
}
