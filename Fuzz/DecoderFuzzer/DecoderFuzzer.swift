// libFuzzer target for the characteristic decoders and ATT PDUs (README "Fuzzing").
//
// Input: the first byte selects a characteristic of `CharacteristicCatalog.all` (byte % count; a new profile appends to
// the catalog, so the seeds keep their meaning — DecoderCorpusTests checks it), the rest is its
// payload. A payload that decodes must re-encode to bytes that decode again to the same JSON. Independently the
// whole input is decoded as an ATT PDU, which must survive encode → decode unchanged.
//
// Built with `-DFUZZING` (and -sanitize=fuzzer) libFuzzer supplies `main`; without it (plain `swift build`) this
// is a small executable that replays input files through the same checks, so CI links it and crashes reproduce.
import BLEGateway

#if !FUZZING
    import Foundation
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func decoderFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    fuzzCharacteristic(input)
    fuzzATTPDU(input)
    return 0
}

private func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
}

private func fuzzCharacteristic(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let type = CharacteristicCatalog.all[Int(selector) % CharacteristicCatalog.all.count]
    let payload = Array(input.dropFirst())
    guard let first = try? CharacteristicCatalog.decode(uuid: type.uuid, bytes: payload) else { return }
    let reencoded = first.encoded()
    let second: any CharacteristicValue
    do {
        second = try CharacteristicCatalog.decode(uuid: type.uuid, bytes: reencoded)
    } catch {
        fatalError("\(type.name): \(hex(payload)) decodes, but its re-encoding \(hex(reencoded)) does not: \(error)")
    }
    let json = first.json.text
    let jsonAgain = second.json.text
    if json != jsonAgain {
        fatalError(
            "\(type.name): round trip changed the value: \(hex(payload)) -> \(json); re-encoded \(hex(reencoded)) -> \(jsonAgain)"
        )
    }
}

private func fuzzATTPDU(_ input: [UInt8]) {
    guard let pdu = try? ATTPDU(decoding: input) else { return }
    let reencoded = pdu.encoded()
    let again: ATTPDU
    do {
        again = try ATTPDU(decoding: reencoded)
    } catch {
        fatalError("ATT PDU \(hex(input)) decodes as \(pdu), but its re-encoding \(hex(reencoded)) does not: \(error)")
    }
    if again != pdu || again.encoded() != reencoded {
        fatalError("ATT PDU round trip changed \(hex(input)): \(pdu) -> \(hex(reencoded)) -> \(again)")
    }
}

#if !FUZZING
    /// Without libFuzzer: `DecoderFuzzer FILE...` runs each file (e.g. a crash-* libFuzzer wrote) through the checks.
    @main
    enum DecoderFuzzerReplay {
        static func main() {
            let paths = CommandLine.arguments.dropFirst()
            if paths.isEmpty {
                print("usage: DecoderFuzzer FILE... (replays inputs; build with -sanitize=fuzzer -DFUZZING to fuzz)")
            }
            for path in paths {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("\(path): cannot read")
                    exit(1)
                }
                let bytes = [UInt8](data)
                _ = bytes.withUnsafeBufferPointer { decoderFuzzerTestOneInput($0.baseAddress, $0.count) }
                print("\(path): ok (\(bytes.count) bytes)")
            }
        }
    }
#endif
