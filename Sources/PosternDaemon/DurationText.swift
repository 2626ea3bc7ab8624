/// Durations as operators write them: seconds, or a number with s, m, h or d
/// ("30s", "10m", "1h", "2d"). One parser for policy files and the CLI.
public enum DurationText {
    public static func seconds(_ text: String) -> Double? {
        if let plain = Double(text) { return plain > 0 ? plain : nil }
        guard let last = text.lowercased().last, let number = Double(text.dropLast()), number > 0,
              let unit = ["s": 1.0, "m": 60, "h": 3600, "d": 86400][last] else { return nil }
        return number * unit
    }
}
