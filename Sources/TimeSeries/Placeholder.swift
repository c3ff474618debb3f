import GRDB
import CZstd
public enum TimeSeriesVersion { public static let format = 1 }
