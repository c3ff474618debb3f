import BLEGateway
import Provenance

/// The language a page is written in: chosen with the page's switch (a cookie), else the browser's Accept-Language,
/// else English.
package enum PageLanguage: String, Sendable, CaseIterable {
    case en
    case ja

    /// The first supported language in an Accept-Language header, by its q-values ("ja,en;q=0.8").
    package static func preferred(cookie: String?, acceptLanguage: String?) -> PageLanguage {
        if let cookie, let chosen = PageLanguage(rawValue: cookie) { return chosen }
        let ranked = (acceptLanguage ?? "").split(separator: ",").compactMap { part -> (String, Double)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first, !tag.isEmpty else { return nil }
            let q = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag.lowercased(), q)
        }
        for (tag, _) in ranked.sorted(by: { $0.1 > $1.1 }) {
            let primary = String(tag.prefix { $0 != "-" })
            if let language = PageLanguage(rawValue: primary) { return language }
        }
        return .en
    }

    /// The language's own name, for the switch.
    package var ownName: String {
        switch self {
        case .en: "English"
        case .ja: "日本語"
        }
    }
}

/// Every string the pages show, in one catalog: English and Japanese side by side, so a missing translation is a
/// compile error rather than an English word on a Japanese page. Placeholders are filled by the caller with `fill`.
package enum PageText: CaseIterable, Sendable {
    case appName
    case needsAttention
    case nothingNeedsAttention
    case signIn
    case signInHelp
    case accessToken
    case signOut
    case wrongToken
    case sessionExpired
    case largeText
    case normalText
    case waitingReadings
    case waitingReadingsDetail
    case whoseAreThey
    case assign
    case assigned
    case notAllowedToAssign
    case clockReset
    case clockResetDetail
    case clockResetFixedDetail
    case clockOff
    case clockOffDetail
    case silentDevice
    case batteryLow
    case batteryLowDetail
    case silentDeviceDetail
    case connectionProblem
    case refusedByPHR
    case syncBehind
    case syncBehindDetail
    case diskFilling
    case diskFillingDetail
    case device
    case userSlot
    case testData
    case formExpired
    case people
    case bloodPressure
    case systolic
    case diastolic
    case heartRate
    case oxygenSaturation
    case bodyWeight
    case bodyTemperature
    case dailyAverage
    case theNumbers
    case day
    case doubtfulLeftOut
    case sevenDayAverage
    case lastDays
    case noReadings
    case notYours
    case devices
    case lastContact
    case battery
    case clockNow
    case drift
    case whose
    case nobodyYet
    case connections
    case connectionEnded
    case receivedOfExpected
    case clockOffset
    case problem
    case clockHistory
    case deviceUnknown
    case readingsOf
    case readOnly
    case sharing
    case shareSentence
    case shareRawToo
    case everyone
    case pending
    case sent
    case refused
    case oldestPending
    case retryRefused
    case retried
    case nothingShared
    case sharingNotYours
    case homeBloodPressure
    case morning
    case evening
    case recentReadings
    case doubtfulBecause
    case doubtful
    case restingHeartRate
    case rmssd
    case lowestOxygenSaturation
    case glucoseByMeal
    case weightWeeklyChange
    case pairDevice
    case notAllowedToPair
    case cannotPairNow
    case simulatedDevices
    case pairIntro
    case lookForDevices
    case lookingForDevices
    case devicesFound
    case noDeviceFound
    case noName
    case thisOne
    case lookAgain
    case pairingWith
    case stop
    case doesItShow
    case yesSame
    case noDifferent
    case typePasskey
    case send
    case typeOnDevice
    case downloadingReadings
    case downloaded
    case userOfDevice
    case thisDevice
    case whoseSlot
    case decideLater
    case save
    case pairedDone
    case slotBelongsTo
    case pairAnother
    case pairingFailed
    case tryAgain
    case refresh
    case newUserFor
    case tooManyWrongTokens
    case saving

    /// What a kind of reading is called on the pages ("blood-pressure", 血圧).
    package static func kind(_ kind: ReadingKind, _ language: PageLanguage) -> String {
        let (en, ja): (String, String) =
            switch kind {
            case .bloodPressure: ("blood-pressure", "血圧")
            case .pulseRate: ("pulse", "脈拍")
            case .heartRate: ("heart-rate", "心拍数")
            case .glucose: ("glucose", "血糖")
            case .bodyTemperature: ("temperature", "体温")
            case .oxygenSaturation: ("SpO2", "SpO2")
            case .oximetryPulseRate: ("oximeter pulse", "パルスオキシメーターの脈拍")
            case .bodyWeight: ("weight", "体重")
            case .bodyHeight: ("height", "身長")
            case .bodyMassIndex: ("BMI", "BMI")
            case .bodyComposition: ("body composition", "体組成")
            }
        return language == .ja ? ja : en
    }

    /// What a person calls a kind of device on a list of devices found nearby.
    package static func profileName(_ profile: HealthProfile, _ language: PageLanguage) -> String {
        let ja: String =
            switch profile.id {
            case "blood_pressure": "血圧計"
            case "glucose": "血糖測定器"
            case "cgm": "持続血糖測定器"
            case "heart_rate": "心拍センサー"
            case "health_thermometer": "体温計"
            case "pulse_oximeter": "パルスオキシメーター"
            case "weight_scale": "体重計"
            case "body_composition": "体組成計"
            default: profile.deviceName
            }
        return language == .ja ? ja : profile.deviceName
    }

    /// A glucose reading's relation to a meal, in words (the Glucose Measurement Context's values).
    package static func meal(_ name: String, _ language: PageLanguage) -> String {
        let (en, ja): (String, String) =
            switch name {
            case "preprandial": ("before a meal", "食前")
            case "postprandial": ("after a meal", "食後")
            case "fasting": ("fasting", "空腹時")
            case "casual": ("casual", "随時")
            case "bedtime": ("bedtime", "就寝前")
            case "unknown": ("no meal given", "食事の記録なし")
            default: (name.replacingOccurrences(of: "_", with: " "), name.replacingOccurrences(of: "_", with: " "))
            }
        return language == .ja ? ja : en
    }

    /// Why a reading is doubtful, in words ("cuff too loose", カフのゆるみ).
    package static func flag(_ name: String, _ language: PageLanguage) -> String {
        let (en, ja): (String, String) =
            switch name {
            case "body_movement": ("body movement", "体動")
            case "cuff_too_loose": ("cuff too loose", "カフのゆるみ")
            case "irregular_pulse": ("irregular pulse", "不規則な脈")
            case "pulse_rate_out_of_range": ("pulse out of range", "脈拍が範囲外")
            case "improper_position": ("improper measurement position", "測定姿勢が不適切")
            case "sensor_annunciation": ("the sensor reported a problem", "センサーが異常を通知")
            case "no_sensor_contact": ("no sensor contact", "センサーが接触していない")
            case "test_data": ("test data", "テストデータ")
            case "time_refused": ("clock unknown", "時刻不明")
            case "time_corrected": ("time corrected by the gateway", "ゲートウェイが時刻を補正")
            case "value_absent": ("no value", "値なし")
            case "unknown_status": ("unknown status", "状態不明")
            default: (name.replacingOccurrences(of: "_", with: " "), name)
            }
        return language == .ja ? ja : en
    }

    package func text(_ language: PageLanguage) -> String {
        let (en, ja) = strings
        return language == .ja ? ja : en
    }

    /// The text with `{1}`, `{2}` … replaced by the arguments, in order.
    package func fill(_ language: PageLanguage, _ arguments: String...) -> String {
        var result = text(language)
        for (index, argument) in arguments.enumerated() {
            result = result.replacingOccurrences(of: "{\(index + 1)}", with: argument)
        }
        return result
    }

    private var strings: (String, String) {
        switch self {
        case .appName: ("Health gateway", "ヘルスゲートウェイ")
        case .needsAttention: ("Needs attention", "確認が必要なこと")
        case .nothingNeedsAttention: ("Nothing needs attention. All is well.", "確認が必要なことはありません。")
        case .signIn: ("Sign in", "ログイン")
        case .signInHelp:
            (
                "Type the access token you were given (it is in the gateway's configuration).",
                "渡されたアクセストークンを入力してください（ゲートウェイの設定にあります）。"
            )
        case .accessToken: ("Access token", "アクセストークン")
        case .signOut: ("Sign out", "ログアウト")
        case .wrongToken: ("This token is not known to this gateway.", "このトークンはこのゲートウェイでは使えません。")
        case .sessionExpired: ("Please sign in again.", "もう一度ログインしてください。")
        case .largeText: ("Larger text", "文字を大きく")
        case .normalText: ("Normal text", "文字を標準に")
        case .waitingReadings: ("Readings waiting for a person", "だれの測定か決まっていない記録")
        case .waitingReadingsDetail:
            ("{1}, user {2}: {3} reading(s), the newest {4}.", "{1}（ユーザー{2}）：{3}件、最新は{4}。")
        case .whoseAreThey: ("Whose are they?", "だれの記録ですか？")
        case .assign: ("Assign", "決定")
        case .assigned: ("{1} reading(s) are now {2}'s.", "{1}件の記録を{2}さんの記録にしました。")
        case .notAllowedToAssign:
            (
                "Your token may not say whose a device's readings are (it needs a Device write scope).",
                "このトークンでは記録の持ち主を決められません（Device の書き込み権限が必要です）。"
            )
        case .clockReset: ("A device's clock was reset", "機器の時計がリセットされています")
        case .clockResetDetail:
            (
                "{1} shows a date {2} away from now (often after a battery change). Its readings are kept on the gateway's time and marked; set its clock, or the gateway sets it at the next connection.",
                "{1} の時計が {2} ずれています（電池交換の後によくあります）。記録はゲートウェイの時刻で保存し、印を付けています。機器の時計を合わせてください（次の接続で自動で合わせます）。"
            )
        case .clockResetFixedDetail:
            (
                "{1} showed a date {2} away from now on {3} (often after a battery change); the gateway has set its clock again. Readings taken meanwhile are kept on the gateway's time and marked.",
                "{1} の時計が {3} に {2} ずれていました（電池交換の後によくあります）。ゲートウェイが時計を合わせ直しました。その間の記録はゲートウェイの時刻で保存し、印を付けています。"
            )
        case .clockOff: ("A device's clock is off", "機器の時計がずれています")
        case .clockOffDetail:
            ("{1} is {2} off the gateway's clock.", "{1} の時計はゲートウェイと {2} ずれています。")
        case .batteryLow: ("A device's battery is low", "電池が少なくなった機器")
        case .batteryLowDetail:
            (
                "{1}: {2} % at its last connection ({3}). Change the batteries soon; afterwards check its clock.",
                "{1}：前回の接続（{3}）で残り {2} %。早めに電池を交換し、交換後は時計を確認してください。"
            )
        case .silentDevice: ("A device has been silent longer than usual", "いつもより長く通信のない機器")
        case .silentDeviceDetail:
            (
                "{1} last sent something {2}. Is it switched on, with a charged battery, near the gateway?",
                "{1} の最後の通信は {2} です。電源・電池・ゲートウェイとの距離を確認してください。"
            )
        case .connectionProblem: ("The last connection failed", "前回の接続に失敗しました")
        case .refusedByPHR: ("The health record refused an entry", "健康記録サービスが受け取りを拒否しました")
        case .syncBehind: ("Sharing is behind", "共有が遅れています")
        case .syncBehindDetail:
            (
                "{1}: {2} entries wait, the oldest measured {3}.",
                "{1}：{2}件が送信待ち。最も古い測定は{3}。"
            )
        case .diskFilling: ("The gateway's storage is nearly full", "ゲートウェイの保存領域がほぼいっぱいです")
        case .diskFillingDetail:
            ("{1} free of {2}.", "空き {1}（全体 {2}）。")
        case .device: ("Device", "機器")
        case .userSlot: ("user", "ユーザー")
        case .testData: ("test data", "テストデータ")
        case .people: ("People", "利用者")
        case .bloodPressure: ("Blood pressure", "血圧")
        case .systolic: ("systolic", "最高血圧")
        case .diastolic: ("diastolic", "最低血圧")
        case .heartRate: ("Heart rate", "心拍数")
        case .oxygenSaturation: ("Blood oxygen (SpO2)", "血中酸素（SpO2）")
        case .bodyWeight: ("Weight", "体重")
        case .bodyTemperature: ("Body temperature", "体温")
        case .dailyAverage: ("daily average", "1日の平均")
        case .theNumbers: ("The numbers", "数値の一覧")
        case .day: ("Day", "日付")
        case .doubtfulLeftOut:
            (
                "{1} doubtful reading(s) (cuff loose, body movement, clock unknown …) are left out of the averages.",
                "疑わしい記録 {1} 件（カフのゆるみ・体動・時刻不明など）は平均から除いています。"
            )
        case .sevenDayAverage: ("Average of the last 7 days: {1}", "直近7日間の平均：{1}")
        case .lastDays: ("{1} days", "{1}日間")
        case .noReadings: ("No readings in this period.", "この期間の記録はありません。")
        case .notYours: ("This token may not see this person.", "このトークンではこの人の記録を見られません。")
        case .devices: ("Devices", "機器")
        case .lastContact: ("Last contact", "最後の通信")
        case .battery: ("Battery", "電池")
        case .clockNow: ("Clock, compared with the gateway's", "時計（ゲートウェイとの差）")
        case .drift: ("drift", "ずれの進み")
        case .whose: ("Whose readings", "だれの記録か")
        case .nobodyYet: ("nobody yet", "まだ決まっていません")
        case .connections: ("Connections", "接続の記録")
        case .connectionEnded: ("Ended", "終了")
        case .receivedOfExpected: ("Received (expected)", "受信（予定）")
        case .clockOffset: ("Clock offset", "時計のずれ")
        case .problem: ("Problem", "問題")
        case .clockHistory: ("Clock offset over time", "時計のずれの記録")
        case .deviceUnknown: ("This gateway has not heard from that device.", "この機器からの通信はまだありません。")
        case .readingsOf: ("Readings: see {1}.", "記録：{1} のページ")
        case .readOnly:
            (
                "These pages only read here (gatewayd serve); say whose readings are on the pages of gatewayd run.",
                "ここでは閲覧のみです（gatewayd serve）。記録の持ち主は gatewayd run のページで決めてください。"
            )
        case .sharing: ("Sharing", "共有")
        case .shareSentence: ("{1}'s {2} summaries go to {3}", "{1}さんの{2}の要約を {3} に送ります")
        case .shareRawToo: (", and the readings themselves", "（測定値そのものも）")
        case .everyone: ("Everyone", "全員")
        case .pending: ("Waiting to be sent", "送信待ち")
        case .sent: ("Sent", "送信済み")
        case .refused: ("Refused", "拒否")
        case .oldestPending: ("Oldest waiting measurement", "送信待ちの最も古い測定")
        case .retryRefused: ("Send the refused entries again", "拒否された記録を再送する")
        case .retried: ("{1} refused entr(y/ies) of {2} will be sent again.", "{2} へ拒否された {1} 件を再送します。")
        case .nothingShared:
            ("Nothing is shared: no destination is configured.", "共有先が設定されていないため、何も送っていません。")
        case .sharingNotYours:
            (
                "The sharing counts and refusals are for a token that reads everyone's.",
                "送信数と拒否の一覧は、全員の記録を読めるトークンでのみ表示します。"
            )
        case .homeBloodPressure: ("Home blood pressure, morning and evening", "家庭血圧（朝・晩）")
        case .morning: ("morning", "朝")
        case .evening: ("evening", "晩")
        case .recentReadings: ("Recent readings", "最近の記録")
        case .doubtfulBecause: ("doubtful: {1}", "疑わしい：{1}")
        case .doubtful: ("doubtful", "疑わしい")
        case .restingHeartRate: ("Resting heart rate", "安静時心拍数")
        case .rmssd: ("Heart rate variability (RMSSD)", "心拍変動（RMSSD）")
        case .lowestOxygenSaturation: ("Lowest SpO2 of the day", "1日の最低SpO2")
        case .glucoseByMeal: ("Glucose by meal", "食事別の血糖")
        case .weightWeeklyChange: ("Weight change over a week", "1週間の体重の変化")
        case .pairDevice: ("Pair a device", "機器を登録する（ペアリング）")
        case .notAllowedToPair:
            (
                "Pairing needs a token that may say whose every device is (a system/Device.write scope).",
                "ペアリングには、すべての機器の持ち主を設定できるトークン（system/Device.write）が必要です。"
            )
        case .cannotPairNow: ("This gateway cannot pair now.", "このゲートウェイは今ペアリングできません。")
        case .simulatedDevices:
            ("These are the demo's simulated devices: their readings are test data.", "これはデモの模擬機器です。測定値はテストデータです。")
        case .pairIntro:
            (
                "Put the device in pairing mode (see its manual; often: hold the Bluetooth button until the symbol blinks), keep it within a few metres, then look for it. The gateway keeps collecting from the other devices meanwhile.",
                "機器をペアリングモードにして（説明書を参照。多くはBluetoothボタンを記号が点滅するまで長押し）、数メートル以内に置いてから探してください。その間も他の機器からの受信は続きます。"
            )
        case .lookForDevices: ("Look for devices", "機器を探す")
        case .lookingForDevices:
            ("Looking for devices… they appear here as they are found.", "機器を探しています…見つかった順にここに表示します。")
        case .devicesFound: ("Which one is yours?", "どれがあなたの機器ですか？")
        case .noDeviceFound:
            (
                "No health device found. Is it in pairing mode and within a few metres?",
                "機器が見つかりません。ペアリングモードで、数メートル以内にありますか？"
            )
        case .noName: ("(no name)", "（名前なし）")
        case .thisOne: ("This one", "これです")
        case .lookAgain: ("Look again", "もう一度探す")
        case .pairingWith: ("Pairing with {1}…", "{1} とペアリングしています…")
        case .stop: ("Stop", "中止")
        case .doesItShow: ("Does the device show {1}?", "機器に {1} と表示されていますか？")
        case .yesSame: ("Yes, the same", "はい、同じです")
        case .noDifferent: ("No, it is different", "いいえ、違います")
        case .typePasskey: ("Type the 6-digit code the device shows", "機器に表示された6桁の数字を入力してください")
        case .send: ("Send", "送信")
        case .typeOnDevice: ("Type {1} on the device.", "機器で {1} を入力してください。")
        case .downloadingReadings:
            ("Paired with {1}. Downloading its stored readings: {2}", "{1} とペアリングしました。記録を取り込んでいます：{2}")
        case .downloaded:
            (
                "{1}: {2} reading(s) downloaded. They are held until you say whose they are.",
                "{1}：{2} 件を取り込みました。持ち主を決めるまで保留します。"
            )
        case .userOfDevice: ("user {1} of this device", "この機器のユーザー{1}")
        case .thisDevice: ("this device", "この機器")
        case .whoseSlot: ("Whose readings does {1} take?", "{1} の測定値はどなたのものですか？")
        case .decideLater: ("Decide later", "後で決める")
        case .save: ("Save", "保存")
        case .pairedDone:
            (
                "{1} is paired: {2} reading(s) downloaded. It is collected from whenever it advertises.",
                "{1} を登録しました（{2} 件取り込み）。今後は測定のたびに受信します。"
            )
        case .slotBelongsTo: ("{1} belongs to {2}.", "{1} は {2} さんのものです。")
        case .pairAnother: ("Pair another device", "別の機器を登録する")
        case .pairingFailed: ("Pairing did not work.", "ペアリングできませんでした。")
        case .tryAgain: ("Try again", "やり直す")
        case .refresh: ("Refresh", "更新")
        case .saving: ("Saving…", "保存しています…")
        case .tooManyWrongTokens:
            (
                "Too many wrong tokens from this device. Wait five minutes, then try again.",
                "この機器から誤ったトークンが続きました。5分待ってからもう一度お試しください。"
            )
        case .newUserFor: ("A family scale: register a new user on it for", "家族で使う体重計：新しいユーザーとして登録する人")
        case .formExpired:
            ("The form was too old or not from this page; nothing was changed.", "フォームが古いか不正なため、変更していません。")
        }
    }
}
