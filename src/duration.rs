//! Durations as users write and read them ("30s", "6h", "7d").

use std::time::Duration;

/// Parses "30s", "6h", "7d", "1h 30m" (humantime's grammar).
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"30s\", \"6h\", \"7d\"")
    })
}

/// Shows a duration rounded to whole seconds, so log lines stay short.
pub fn show(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}
