//! Byte sizes as users write them in the config: a whole number of bytes (`4096`), or a number
//! with a unit (`"32MiB"`, `"1.5 GB"`, `"512KiB"`). Binary units (`KiB`, `MiB`, `GiB`, `TiB`)
//! count in 1024s, decimal ones (`kB`, `MB`, `GB`, `TB`) in 1000s, as `ls -h --si` and `df`
//! do; units are case-insensitive, so `32mib` is `32MiB`.

/// Parses a size in bytes.
pub fn parse(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a size; write e.g. \"32MiB\", \"1GB\" or a number of bytes");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    // Whole numbers exactly; fractions through f64, whose 53 bits cover any size a disk holds.
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(bad);
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    #[allow(clippy::cast_precision_loss)]
    let bytes = (value * multiplier as f64).round();
    if bytes.is_finite() && (0.0..1.8e19).contains(&bytes) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(bytes as u64)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn units_binary_and_decimal() {
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("32MiB"), Ok(32 << 20));
        assert_eq!(parse("32 mib"), Ok(32 << 20));
        assert_eq!(parse("2 MB"), Ok(2_000_000));
        assert_eq!(parse("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse("1TiB"), Ok(1 << 40));
        assert_eq!(parse("10B"), Ok(10));
        assert_eq!(parse("0"), Ok(0));
    }

    #[test]
    fn nonsense_is_refused() {
        for text in [
            "",
            "MiB",
            "lots",
            "-5",
            "1.2.3MiB",
            "5 MiBs",
            ".5GB",
            "5.GB",
            "99999999999TiB",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
