import Foundation
import Provenance
import StreamEngine
import TestSupport
import Testing

/// A device's connections (`device_connection`, read and written through its GRDB record): every field as recorded,
/// newest first, and only the newest 100 per device kept, whatever the other devices do.
@Suite struct ConnectionLogTests {
    static func device(_ suffix: String) -> DeviceRecord {
        var device = DeviceRecord(link: "test-\(suffix)")
        device.systemID = "00-1B-C5-00-00-00-00-\(suffix)"
        return device
    }

    @Test func connectionsReadBackNewestFirstAndOnlyTheNewestHundredStay() throws {
        let dir = TemporaryDirectory("connections")
        let archive = try ReadingArchive(path: dir.path + "/engine.sqlite")
        let (cuff, meter) = (Self.device("0A"), Self.device("0B"))
        for n in 0..<105 {
            var report = ReadingArchive.ConnectionReport(
                device: cuff, startedMicros: Int64(n) * 1_000_000, endedMicros: Int64(n) * 1_000_000 + 500_000,
                readingsReceived: n, readingsExpected: n % 2 == 0 ? n : nil,
                clockOffsetMicros: n % 3 == 0 ? -Int64(n) : nil, error: n == 104 ? "link lost" : nil)
            report.batteryPercent = n % 5 == 0 ? 100 - n / 2 : nil
            try archive.recordConnection(report)
            if n < 3 {
                try archive.recordConnection(
                    ReadingArchive.ConnectionReport(
                        device: meter, startedMicros: 0, endedMicros: 1, readingsReceived: 1, readingsExpected: 1,
                        clockOffsetMicros: nil, error: nil))
            }
        }
        let kept = try archive.connections(deviceKey: cuff.key, limit: 1_000)
        #expect(kept.count == ConnectionLogTests.keptPerDevice)
        #expect(kept.map(\.readingsReceived) == Array((5..<105).reversed()))
        let newest = try #require(kept.first)
        #expect(newest.startedMicros == 104_000_000 && newest.endedMicros == 104_500_000)
        #expect(newest.readingsExpected == 104 && newest.clockOffsetMicros == nil && newest.error == "link lost")
        #expect(kept[1].readingsExpected == nil && kept[1].clockOffsetMicros == nil && kept[1].error == nil)
        #expect(kept[2].readingsExpected == 102 && kept[2].clockOffsetMicros == -102)
        #expect(kept.first { $0.readingsReceived == 100 }?.batteryPercent == 50)
        #expect(try archive.connections(deviceKey: cuff.key, limit: 1).map(\.readingsReceived) == [104])
        #expect(try archive.connections(deviceKey: meter.key).count == 3)
    }

    static let keptPerDevice = 100
}
