//! Remote retention's shell: the committed copies of one run are listed (one manifest per
//! checkpoint prefix; a prefix without one is an upload in progress or garbage, and is left
//! alone), planned with the same planner as local runs (`offload::plan_remote`), and the
//! copies it does not keep are deleted manifest first, then exactly the objects the manifest
//! names.

use std::path::Path;
use std::time::SystemTime;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use super::transfer::Failure;
use crate::offload::{deletion_order, plan_remote, Manifest, MANIFEST_NAME};
use crate::plan::{Decision, Plan};
use crate::policy::Policy;

/// What remote retention found (and did) for one run.
#[derive(Debug, Clone, Default)]
pub struct RemotePlan {
    /// The run's prefix, as a URL: `s3://bucket/prefix/of/run`.
    pub url: String,
    /// Over the committed copies; empty when they could not be listed.
    pub plan: Plan,
    /// Why the copies could not be listed.
    pub error: Option<String>,
    /// Copies deleted (acting).
    pub deleted: Vec<String>,
    /// Copies whose deletion failed, and why.
    pub failed: Vec<(String, String)>,
}

/// The committed copies under `prefix` (the run's, without a trailing `/`).
async fn committed(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<Manifest>, Failure> {
    let listing = store
        .list_with_delimiter(Some(&Key::from(prefix)))
        .await
        .map_err(|e| Failure::from_store(&e))?;
    let mut manifests = Vec::new();
    for dir in listing.common_prefixes {
        let name = dir.filename().unwrap_or_default().to_owned();
        let key = Key::from(format!("{dir}/{MANIFEST_NAME}"));
        let bytes = match store.get(&key).await {
            Ok(found) => found.bytes().await.map_err(|e| Failure::from_store(&e))?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(Failure::from_store(&e)),
        };
        match Manifest::parse(&bytes) {
            Ok(m) if m.checkpoint == name => manifests.push(m),
            Ok(m) => {
                tracing::warn!(to = %key, "remote manifest {key} names checkpoint {:?}, not {name:?}: that copy is left alone", m.checkpoint);
            }
            Err(e) => {
                tracing::warn!(to = %key, error = %e, "remote manifest {key} is not readable: {e}; that copy is left alone");
            }
        }
    }
    Ok(manifests)
}

/// Plans the remote copies of `run` under `prefix` by `policy`; deletes what the plan does
/// not keep when `act`.
pub async fn retain(
    store: &dyn ObjectStore,
    run: &Path,
    watch: &str,
    url: &str,
    prefix: &str,
    policy: &Policy,
    act: bool,
) -> RemotePlan {
    let mut out = RemotePlan {
        url: url.to_owned(),
        ..RemotePlan::default()
    };
    let manifests = match committed(store, prefix).await {
        Ok(m) => m,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.plan = plan_remote(&manifests, policy, SystemTime::now());
    if !act {
        return out;
    }
    for v in out
        .plan
        .verdicts
        .iter()
        .filter(|v| v.decision == Decision::Delete)
    {
        let Some(manifest) = manifests.iter().find(|m| m.checkpoint == v.name) else {
            continue;
        };
        let order = deletion_order(prefix, manifest);
        let result = delete_copy(store, &order).await;
        match result {
            Ok(()) => {
                let bytes = manifest.bytes().unwrap_or(0);
                tracing::info!(run = %run.display(), watch = %watch, checkpoint = %v.name, to = %url, objects = order.objects.len(), bytes, reasons = %v.reasons_text(), "remote copy deleted: {} in {url} ({} objects, {}): {}", v.name, order.objects.len(), crate::report::human_bytes(bytes), v.detail);
                out.deleted.push(v.name.clone());
            }
            Err(e) => {
                tracing::error!(run = %run.display(), watch = %watch, checkpoint = %v.name, to = %url, error = %e, "cannot delete remote copy {} in {url}: {e}; tried again after the next upload", v.name);
                out.failed.push((v.name.clone(), e.to_string()));
            }
        }
    }
    out
}

/// The manifest first: once it is gone the copy is not committed, whatever happens to the
/// objects after.
async fn delete_copy(
    store: &dyn ObjectStore,
    order: &crate::offload::RemoteDeletion,
) -> Result<(), Failure> {
    let gone_ok = |r: object_store::Result<()>| match r {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(Failure::from_store(&e)),
    };
    gone_ok(store.delete(&Key::from(order.manifest.as_str())).await)?;
    for object in &order.objects {
        gone_ok(store.delete(&Key::from(object.as_str())).await)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::PutPayload;

    use super::*;
    use crate::offload::FileEntry;

    fn put(store: &InMemory, key: &str, body: &[u8], rt: &tokio::runtime::Runtime) {
        rt.block_on(store.put(&Key::from(key), PutPayload::from(body.to_vec())))
            .unwrap();
    }

    #[test]
    fn copies_past_the_rules_go_manifest_first_and_nothing_else_is_touched() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = Arc::new(InMemory::new());
        for step in [100u64, 200, 300] {
            let name = format!("checkpoint-{step}");
            let mut m = Manifest::new(
                &name,
                true,
                1_700_000_000 + step,
                vec![FileEntry {
                    path: "model.bin".into(),
                    bytes: 3,
                    sha256: "0".repeat(64),
                }],
            );
            m.step = Some(step);
            put(&store, &format!("r/{name}/model.bin"), b"abc", &rt);
            put(
                &store,
                &format!("r/{name}/{MANIFEST_NAME}"),
                &m.to_json(),
                &rt,
            );
        }
        // Someone else's object beside a copy, and an upload in progress (no manifest).
        put(&store, "r/checkpoint-100/notes.txt", b"x", &rt);
        put(&store, "r/checkpoint-400/model.bin", b"abc", &rt);

        let policy = Policy::keep_last(1);
        let look = rt.block_on(retain(
            &*store,
            Path::new("/runs/r"),
            "w",
            "mem://r",
            "r",
            &policy,
            false,
        ));
        assert_eq!(look.plan.deletions().count(), 2);
        assert!(look.deleted.is_empty(), "a look deletes nothing");

        let done = rt.block_on(retain(
            &*store,
            Path::new("/runs/r"),
            "w",
            "mem://r",
            "r",
            &policy,
            true,
        ));
        assert_eq!(done.deleted, ["checkpoint-100", "checkpoint-200"]);
        let mut keys: Vec<String> = rt.block_on(async {
            use futures::TryStreamExt;
            store
                .list(None)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap()
        });
        keys.sort();
        assert_eq!(
            keys,
            [
                "r/checkpoint-100/notes.txt",
                "r/checkpoint-300/.ckptd-manifest.json",
                "r/checkpoint-300/model.bin",
                "r/checkpoint-400/model.bin",
            ]
        );
    }
}
