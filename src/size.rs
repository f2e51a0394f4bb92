//! Byte sizes as users write them in the config: a whole number of bytes (`4096`), or a number
//! with a unit (`"32MiB"`, `"1.5 GB"`, `"512KiB"`). Binary units (`KiB`, `MiB`, `GiB`, `TiB`)
//! count in 1024s, decimal ones (`kB`, `MB`, `GB`, `TB`) in 1000s, as `ls -h --si` and `df`
//! do; units are case-insensitive, so `32mib` is `32MiB`.

/// Parses a size in bytes. The `bytesize` crate reads the number and the unit; what it would
/// take too loosely for a config file is refused first: a number that starts or ends with a
/// dot (`.5GB`), and a size too large for 64 bits (which it saturates).
pub fn parse(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a size; write e.g. \"32MiB\", \"1GB\" or a number of bytes");
    let trimmed = text.trim();
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let number = &trimmed[..number_end];
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    match trimmed.parse::<bytesize::ByteSize>() {
        Ok(size) if size.as_u64() < u64::MAX => Ok(size.as_u64()),
        _ => Err(bad()),
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
