// libFuzzer target for the GATT client against a hostile device (README "Fuzzing").
//
// The input is a script of what the device sends: chunks of one header byte, then that many bytes of PDU (cut
// short by the end of the input); header 0xFF instead means "stay silent". Whenever the client sends a request,
// the device sends chunks until one could end that request (its response opcode, or an Error Response for it),
// then waits for the client's next request; chunks before that arrive unsolicited. Silence leaves the request
// to the client's 10 ms transaction timeout. When the script ends the device drops the link, so every input ends
// quickly. Meanwhile the client runs exchangeMTU, discoverAll, a read and a CCCD write; it may fail with
// GATTError, but it must never crash or hang.
//
// Built with `-DFUZZING` (and -sanitize=fuzzer) libFuzzer supplies `main`; without it (plain `swift build`) this
// is a small executable that replays input files through the same session, so CI links it and crashes reproduce.
import BLEGateway
import Dispatch
import Logging

#if !FUZZING
    import Foundation
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func attClientFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // libFuzzer calls on its own thread, outside the concurrency pool, so blocking it here cannot starve the
    // tasks it waits for.
    let done = DispatchSemaphore(value: 0)
    Task {
        await ClientSession.run(script: input)
        done.signal()
    }
    done.wait()
    return 0
}

enum ClientSession {
    /// 10 ms rather than 50: mutated scripts often stay silent, and each silent input costs one whole timeout
    /// (with 50 ms the target ran about 150 inputs/s, with 10 ms about 480).
    static let options = GATTClientOptions(
        transactionTimeout: .milliseconds(10), indicationAcknowledgementTimeout: .milliseconds(10))
    static let quiet = Logger(label: "fuzz.gatt-client", factory: { _ in SwiftLogNoOpLogHandler() })

    static func run(script: [UInt8]) async {
        let (clientSide, deviceSide) = InProcessBearer.pair()
        let client = GATTClient(bearer: clientSide, options: options, logger: quiet)
        async let receiving: Void = client.run()
        async let device: Void = playDevice(deviceSide, script)
        async let events: Void = drainEvents(client)

        _ = try? await client.exchangeMTU()
        let database = try? await client.discoverAll()
        let characteristics = database?.services.flatMap(\.characteristics) ?? []
        let readable = characteristics.first { $0.properties.contains(.read) }
        _ = try? await client.read(handle: readable?.valueHandle ?? 0x0003)
        if let subscribable = characteristics.first(where: { $0.cccdHandle != nil }) {
            try? await client.configure(subscribable, .notifications)
        }

        client.close()
        deviceSide.close()
        await receiving
        await device
        await events
    }

    /// The hostile device: answers each request of the client with the script's next chunks (see the top).
    static func playDevice(_ bearer: InProcessBearer, _ script: [UInt8]) async {
        var position = 0
        for await received in bearer.incoming {
            // Error Responses and Confirmations from the client ask for nothing; the client sends no commands.
            guard let request = received.first, request != 0x01, request != 0x1E else { continue }
            while position < script.count {
                let header = script[position]
                position += 1
                if header == 0xFF { break }
                let end = min(script.count, position + Int(header))
                let pdu = Array(script[position..<end])
                position = end
                try? await bearer.send(pdu)
                if endsRequest(pdu, request) { break }
            }
            if position >= script.count { break }
        }
        bearer.close()
    }

    /// Whether `pdu` completes the client's outstanding `request` (as a response, or as an invalid one).
    static func endsRequest(_ pdu: [UInt8], _ request: UInt8) -> Bool {
        guard let opcode = pdu.first else { return false }
        if opcode == request &+ 1 { return true }
        return opcode == 0x01 && (pdu.count != 5 || pdu[1] == request)
    }

    /// Notifications are dropped; indications are acknowledged unless their first byte is odd (then the client's
    /// acknowledgement timeout closes the link).
    static func drainEvents(_ client: GATTClient) async {
        for await event in client.events {
            if case .indication(let indication) = event, indication.value.first.map({ $0 & 1 == 0 }) ?? true {
                try? await indication.acknowledgeDurable()
            }
        }
    }
}

#if !FUZZING
    /// Without libFuzzer: `ATTClientFuzzer FILE...` runs each file (e.g. a crash-* libFuzzer wrote) as a session.
    @main
    enum ATTClientFuzzerReplay {
        static func main() {
            let paths = CommandLine.arguments.dropFirst()
            if paths.isEmpty {
                print("usage: ATTClientFuzzer FILE... (replays inputs; build with -sanitize=fuzzer -DFUZZING to fuzz)")
            }
            for path in paths {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("\(path): cannot read")
                    exit(1)
                }
                let bytes = [UInt8](data)
                _ = bytes.withUnsafeBufferPointer { attClientFuzzerTestOneInput($0.baseAddress, $0.count) }
                print("\(path): ok (\(bytes.count) bytes)")
            }
        }
    }
#endif
