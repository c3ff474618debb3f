import Foundation
@testable import TimeSeries
@main struct B { static func main() throws {
  let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1])))
  let samples = try CSVSamples.parse(data)
  for size in [8192, 16384, 32768, 65536] { for level in [9, 19] {
    var total = 0
    var i = 0
    let t0 = Date()
    while i < samples.count { let e = min(i+size, samples.count); total += try ChunkEncoder.encode(Array(samples[i..<e]), compressionLevel: Int32(level)).bytes.count; i = e }
    print(size, level, Double(total)/Double(samples.count), Date().timeIntervalSince(t0))
  } }
} }
