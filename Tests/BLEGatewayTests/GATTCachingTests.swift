import Foundation
import TestSupport
import Testing

@testable import BLEGateway

/// Discovery once per link and not again on the next one when the specification allows it: a Database Hash that
/// still matches, or a bonded device without one; Service Changed re-discovers the changed handles only.
@Suite struct GATTCachingTests {
    /// A cuff's table: Generic Access, Blood Pressure, Battery; with the Generic Attribute service (Service Changed and
    /// the Database Hash) when `genericAttribute`, and an extra Battery characteristic when `firmware` is 2.
    /// (`name`, `feature` and `battery` are values a client reads, not structure.)
    static func cuffDatabase(
        genericAttribute: Bool, firmware: Int = 1, name: String = "cuff", feature: [UInt8] = [0x00, 0x00],
        battery: UInt8 = 90
    ) -> AttributeDatabase {
        var db = AttributeDatabase()
        db.addPrimaryService(.genericAccessService)
        db.addCharacteristic(.deviceName, properties: [.read], value: .fixed(Array(name.utf8)))
        db.addPrimaryService(.bloodPressureService)
        db.addCharacteristic(.bloodPressureMeasurement, properties: [.indicate])
        db.addCharacteristic(.bloodPressureFeature, properties: [.read], value: .fixed(feature))
        db.addPrimaryService(.batteryService)
        db.addCharacteristic(.batteryLevel, properties: [.read, .notify], value: .fixed([battery]))
        if firmware >= 2 {
            db.addCharacteristic(BluetoothUUID(0x2BED), properties: [.read], value: .fixed([0x00, 0x00]))
        }
        if genericAttribute { db.finishWithGenericAttribute() } else { db.finish() }
        return db
    }

    /// One link: the device serves `database` on one end of a socketpair, a client with `slot` on the other.
    static func connect(_ database: AttributeDatabase, slot: GATTCacheSlot?) async throws -> (ATTServer, GATTClient) {
        let (serverEnd, clientEnd) = try SeqPacketBearer.pair()
        let server = ATTServer(
            bearer: serverEnd, database: database, handler: RecordingHandler(), supportedMTU: 64,
            indicationTimeout: .seconds(5))
        Task { await server.run() }
        let client = GATTClient(bearer: clientEnd, cache: slot)
        client.startReceiving()
        _ = try await client.exchangeMTU()
        return (server, client)
    }

    /// What a client with no cache finds on `database`.
    static func freshDiscovery(_ database: AttributeDatabase) async throws -> (DiscoveredDatabase, requests: Int) {
        let (_, client) = try await connect(database, slot: nil)
        defer { client.close() }
        let before = await client.requestsSent
        let found = try await client.discoverAll()
        return (found, await client.requestsSent - before)
    }

    @Test func aesCMACMatchesRFC4493() {
        let key = Self.hex("2b7e151628aed2a6abf7158809cf4f3c")
        let message = Self.hex(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
        )
        #expect(AESCMAC.mac([], key: key) == Self.hex("bb1d6929e95937287fa37d129b756746"))
        #expect(AESCMAC.mac(Array(message.prefix(16)), key: key) == Self.hex("070a16b46b4d4144f79bdd9dd04a287c"))
        #expect(AESCMAC.mac(Array(message.prefix(40)), key: key) == Self.hex("dfa66747de9ae63030ca32611497c827"))
        #expect(AESCMAC.mac(message, key: key) == Self.hex("51f0bebf7e3b9d92fc49741779363cfe"))
    }

    /// The hash follows the structure a client discovers — a characteristic more changes it — and not the values a
    /// client reads (a battery level).
    @Test func theDatabaseHashChangesWithTheStructureOnly() {
        let first = Self.cuffDatabase(genericAttribute: true)
        #expect(first.databaseHash.count == 16)
        #expect(first.databaseHash == Self.cuffDatabase(genericAttribute: true).databaseHash)
        #expect(first.databaseHash != Self.cuffDatabase(genericAttribute: true, firmware: 2).databaseHash)
        let sameStructure = Self.cuffDatabase(
            genericAttribute: true, name: "another name", feature: [0xFF, 0x01], battery: 12)
        #expect(sameStructure.databaseHash == first.databaseHash)
    }

    /// A device with a Database Hash (the simulated ones, many newer devices), bonded or not: the second link reads
    /// the hash — one request — instead of discovering; after a firmware update the hash differs and the third link
    /// discovers the new table.
    @Test func aMatchingDatabaseHashSkipsDiscoveryOnTheNextLink() async throws {
        let cache = GATTDatabaseCache()
        let slot = GATTCacheSlot(cache: cache, key: "AA:BB:CC:DD:EE:01", bonded: false)
        let database = Self.cuffDatabase(genericAttribute: true)
        let (fresh, fullCost) = try await Self.freshDiscovery(database)

        let (_, first) = try await Self.connect(database, slot: slot)
        #expect(try await first.discoverAll() == fresh)
        #expect(await first.discoveries == 1)
        #expect(cache.entry(slot.key)?.hash == database.databaseHash)
        first.close()

        let (_, second) = try await Self.connect(database, slot: slot)
        let before = await second.requestsSent
        #expect(try await second.discoverAll() == fresh)
        #expect(await second.discoveries == 0)
        #expect(await second.cacheHits == 1)
        #expect(await second.requestsSent - before == 1, "a cached link costs the hash read, not \(fullCost) requests")
        second.close()

        let updated = Self.cuffDatabase(genericAttribute: true, firmware: 2)
        let (third, _) = try await Self.freshDiscovery(updated)
        let (_, client) = try await Self.connect(updated, slot: slot)
        #expect(try await client.discoverAll() == third)
        #expect(await client.discoveries == 1)
        #expect(await client.cacheHits == 0)
        #expect(third.characteristic(BluetoothUUID(0x2BED)) != nil)
        client.close()
    }

    /// A device without a Database Hash is cached only when bonded (it must indicate Service Changed when its table
    /// changes); an unbonded one is discovered on every link.
    @Test func withoutAHashOnlyABondedDeviceIsCached() async throws {
        let database = Self.cuffDatabase(genericAttribute: false)
        for bonded in [true, false] {
            let slot = GATTCacheSlot(cache: GATTDatabaseCache(), key: "AA:BB:CC:DD:EE:02", bonded: bonded)
            for link in 0..<2 {
                let (_, client) = try await Self.connect(database, slot: slot)
                _ = try await client.discoverAll()
                let cached = bonded && link == 1
                #expect(await client.cacheHits == (cached ? 1 : 0), "bonded \(bonded), link \(link)")
                #expect(await client.discoveries == (cached ? 0 : 1), "bonded \(bonded), link \(link)")
                client.close()
            }
        }
    }

    /// A firmware update while connected adds a Battery characteristic; the device indicates Service Changed naming the
    /// Battery service's handles. The next discovery asks for that range only, keeps the services before it, and ends
    /// with exactly what a fresh discovery of the new table finds; the cached copy is replaced.
    @Test func serviceChangedRediscoversOnlyTheChangedRange() async throws {
        let cache = GATTDatabaseCache()
        let slot = GATTCacheSlot(cache: cache, key: "AA:BB:CC:DD:EE:03", bonded: true)
        let old = Self.cuffDatabase(genericAttribute: true)
        let (server, client) = try await Self.connect(old, slot: slot)
        let before = try await client.discoverAll()
        let serviceChanged = try #require(before.characteristic(.serviceChanged))
        try await client.write(handle: try #require(serviceChanged.cccdHandle), value: [0x02, 0x00])
        var events = client.events.makeAsyncIterator()

        // The new table: the battery service grows by one characteristic, and the services after it move up. (Core
        // Vol 3 Part G 7.1: the range covers every attribute that changed.)
        let new = Self.cuffDatabase(genericAttribute: true, firmware: 2)
        let battery = try #require(before.service(.batteryService)).handles
        await server.replaceDatabase(new)
        #expect(
            await server.indicate(
                serviceChanged.valueHandle, [UInt8(battery.start & 0xFF), UInt8(battery.start >> 8), 0xFF, 0xFF]))
        guard case .confirmedIndication = await events.next() else {
            Issue.record("Service Changed was not confirmed at once")
            return
        }
        #expect(cache.entry(slot.key) == nil, "a changed device's cached table was kept")
        let requestsBefore = await client.requestsSent
        let after = try await client.discoverAll()
        let partialCost = await client.requestsSent - requestsBefore
        let (fresh, fullCost) = try await Self.freshDiscovery(new)
        #expect(after == fresh)
        #expect(await client.discoveries == 2)
        #expect(
            partialCost < fullCost,
            "re-discovering the changed range cost \(partialCost) requests, a full discovery \(fullCost)")
        #expect(cache.entry(slot.key)?.database == fresh && cache.entry(slot.key)?.hash == new.databaseHash)
        // Nothing else pending: the next call answers from what the link knows.
        _ = try await client.discoverAll()
        #expect(await client.discoveries == 2)
        client.close()
    }

    static func hex(_ text: String) -> [UInt8] {
        stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
    }
}
