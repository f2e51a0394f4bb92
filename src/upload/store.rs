//! Opening the object store a `to` names, with the ecosystem's own credential chain: the
//! `object_store` builders read `AWS_*`, `GOOGLE_*` and `AZURE_*` from the environment, then
//! web identity, container and instance metadata, as each cloud's own tools do. ckptd never
//! reads, stores or logs a credential itself.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::offload::{Scheme, Target};

/// How long one request may wait to connect: an unreachable endpoint should be said in
/// seconds, not after the system's TCP timeout of minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take. A part is at most `transfer::PART_BYTES`, already read
/// and rate-limited when it is sent, so even a slow link sends it well within this.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(5);

/// The store `target` names. Requests retry transient failures a few times within
/// `RETRY_WITHIN`; what still fails is the uploader's to retry later, with its own backoff and
/// a WARN, so that a stopped server is said rather than waited for silently.
pub fn open(target: &Target) -> Result<Arc<dyn ObjectStore>, String> {
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    let client = ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT);
    let store: Arc<dyn ObjectStore> = match target.scheme {
        Scheme::S3 => {
            // Every request carries the SHA-256 of its body (x-amz-checksum-sha256): the store
            // refuses bytes that are not the ones read from the checkpoint.
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&target.root)
                .with_checksum_algorithm(Checksum::SHA256)
                .with_retry(retry)
                .with_client_options(client);
            // An endpoint the user wrote as http:// (a local MinIO or moto) is meant as
            // written; object_store otherwise refuses plain HTTP.
            if endpoint_is_http() {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build().map_err(|e| e.to_string())?)
        }
        Scheme::Gcs => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&target.root)
                .with_retry(retry)
                .with_client_options(client)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        Scheme::Azure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_container_name(&target.root)
                .with_retry(retry)
                .with_client_options(client)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        Scheme::File => {
            // Never created: a directory missing because its filesystem is not mounted would
            // otherwise fill the root filesystem with "uploads".
            let root = std::path::Path::new(&target.root);
            if !root.is_dir() {
                return Err(format!(
                    "{} is not a directory (not mounted?); ckptd does not create it",
                    root.display()
                ));
            }
            Arc::new(LocalFileSystem::new_with_prefix(root).map_err(|e| e.to_string())?)
        }
    };
    Ok(store)
}

/// Whether the S3 endpoint in the environment is plain HTTP.
fn endpoint_is_http() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .any(|v| v.trim().starts_with("http://"))
}

/// Where `run`'s checkpoints go, for logs: `s3://bucket/prefix/of/run`.
pub fn run_url(target: &Target, watch: &crate::config::Watch, run: &std::path::Path) -> String {
    match target.prefix(&watch.name, &watch.runs, run) {
        Some(p) if !p.is_empty() => format!("{}/{p}", root_url(target)),
        _ => root_url(target),
    }
}

/// `s3://bucket`, `file:///mnt/archive`: the store's root as the user would write it.
pub fn root_url(target: &Target) -> String {
    match target.scheme {
        Scheme::S3 => format!("s3://{}", target.root),
        Scheme::Gcs => format!("gs://{}", target.root),
        Scheme::Azure => format!("az://{}", target.root),
        Scheme::File => format!("file://{}", target.root),
    }
}
