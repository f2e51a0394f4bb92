//! `metrics_file` and `metrics_listen`: off by default, parsed, refused with file:line:column.

use std::net::SocketAddr;
use std::path::Path;

use super::tests::{assert_one_error, parse};

const WATCH: &str = r#"
[[watch]]
name = "w"
runs = ["/data/runs/*"]
layout = "huggingface"
keep_last = 2
"#;

#[test]
fn metrics_are_off_by_default() {
    let config = parse(WATCH).unwrap();
    assert_eq!(config.daemon.metrics, super::MetricsSettings::default());
}

#[test]
fn metrics_file_and_listen_parse_the_file_relative_to_the_config() {
    let config = parse(&format!(
        "[daemon]\nmetrics_file = \"metrics/ckptd.prom\"\nmetrics_listen = \"127.0.0.1:9746\"\n{WATCH}"
    ))
    .unwrap();
    // The tests' config file is /etc/ckptd/ckptd.toml.
    assert_eq!(
        config.daemon.metrics.file.as_deref(),
        Some(Path::new("/etc/ckptd/metrics/ckptd.prom"))
    );
    assert_eq!(
        config.daemon.metrics.listen,
        Some("127.0.0.1:9746".parse::<SocketAddr>().unwrap())
    );
    let v6 = parse(&format!(
        "[daemon]\nmetrics_listen = \"[::1]:9746\"\n{WATCH}"
    ))
    .unwrap();
    assert_eq!(
        v6.daemon.metrics.listen,
        Some("[::1]:9746".parse::<SocketAddr>().unwrap())
    );
}

#[test]
fn a_metrics_file_node_exporter_would_not_read_is_refused_where_it_is_written() {
    assert_one_error(
        &format!("[daemon]\nmetrics_file = \"/var/lib/node_exporter/ckptd.txt\"\n{WATCH}"),
        "2:16:",
        "must name a file ending in .prom",
    );
    assert_one_error(
        &format!("[daemon]\nmetrics_file = \"/var/lib/node_exporter/.prom\"\n{WATCH}"),
        "2:16:",
        "ending in .prom",
    );
}

#[test]
fn a_listen_address_without_a_port_or_with_a_host_name_is_refused() {
    for bad in ["127.0.0.1", "localhost:9746", ":9746", "127.0.0.1:99999"] {
        assert_one_error(
            &format!("[daemon]\nmetrics_listen = \"{bad}\"\n{WATCH}"),
            "2:18:",
            "is not an IP address and port",
        );
    }
    assert_one_error(
        &format!("[daemon]\nmetrics_listen = \"127.0.0.1:0\"\n{WATCH}"),
        "2:18:",
        "a port other than 0",
    );
}

#[test]
fn a_misspelt_metrics_key_is_refused() {
    let errors = parse(&format!(
        "[daemon]\nmetric_file = \"/tmp/ckptd.prom\"\n{WATCH}"
    ))
    .unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!((errors.0[0].line, errors.0[0].column), (2, 1), "{errors}");
}
