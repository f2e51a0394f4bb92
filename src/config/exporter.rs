//! `[daemon] metrics_file` and `metrics_listen`: where the daemon publishes its Prometheus
//! metrics. Checked here like every other key, so a typo is refused at load time with its
//! position instead of becoming a file node_exporter never reads or a port never opened.

use std::net::SocketAddr;
use std::path::Path;

use toml::Spanned;

use super::error::Errors;
use super::MetricsSettings;

/// Validates both keys; an invalid one is an error pushed to `e` and left unset.
pub(super) fn validate(
    file: Option<&Spanned<String>>,
    listen: Option<&Spanned<String>>,
    config_dir: &Path,
    e: &mut Errors<'_>,
) -> MetricsSettings {
    MetricsSettings {
        file: file.and_then(|f| metrics_file(f, config_dir, e)),
        listen: listen.and_then(|l| metrics_listen(l, e)),
    }
}

fn metrics_file(
    value: &Spanned<String>,
    config_dir: &Path,
    e: &mut Errors<'_>,
) -> Option<std::path::PathBuf> {
    let text = value.get_ref();
    // node_exporter's textfile collector reads `*.prom` only: any other name would be
    // written faithfully and never scraped, which looks like working until an alert is due.
    // Its glob is case-sensitive, and a hidden `.prom` has no extension: both as here.
    if Path::new(text).extension() != Some(std::ffi::OsStr::new("prom")) {
        e.push(
            value.span(),
            format!(
                "`metrics_file` = \"{text}\" must name a file ending in .prom (node_exporter's \
                 textfile collector reads only *.prom), such as \
                 \"/var/lib/node_exporter/textfile_collector/ckptd.prom\""
            ),
        );
        return None;
    }
    Some(crate::paths::normalize(&config_dir.join(text)))
}

fn metrics_listen(value: &Spanned<String>, e: &mut Errors<'_>) -> Option<SocketAddr> {
    let text = value.get_ref();
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            e.push(
                value.span(),
                format!(
                    "`metrics_listen` = \"{text}\" needs a port other than 0 (Prometheus must \
                     know where to scrape), such as \"127.0.0.1:9746\""
                ),
            );
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            // Host names are refused rather than resolved: which address a name maps to
            // could change between `check` and a restart.
            e.push(
                value.span(),
                format!(
                    "`metrics_listen` = \"{text}\" is not an IP address and port such as \
                     \"127.0.0.1:9746\" or \"[::1]:9746\" (host names are not resolved)"
                ),
            );
            None
        }
    }
}
