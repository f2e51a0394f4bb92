//! Which entries of a checkpoint directory are training state (optimizer, scheduler, RNG,
//! engine shards), per layout: what slimming removes. Conservative by construction: a name is
//! listed only when the framework writes training state and nothing else under it, and a
//! symlink is never an entry (it is neither followed nor removed).

use std::io;
use std::path::Path;

use walkdir::WalkDir;

/// The training-state file set of a watch, validated from its layout and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlimFiles {
    /// `optimizer.pt`, `scheduler.pt`, `rng_state*.pth`, … and DeepSpeed's `global_step*/`.
    HuggingFace,
    /// `*optim_states.pt` inside `global_step{N}/`, when the weights are elsewhere.
    DeepSpeed,
    /// `optimizer/` and `lr_scheduler*`.
    OpenSora,
    /// Item subdirectories named in `slim_items`.
    Orbax(Vec<String>),
    /// `slim_files` globs, relative to the checkpoint directory.
    Generic(Vec<glob::Pattern>),
}

/// One entry slimming removes: a file or a whole directory inside the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path below the checkpoint directory, one name per component.
    pub path: Vec<String>,
    pub is_dir: bool,
    /// Files (anything but a directory) and bytes it holds, counted as fingerprints count.
    pub files: u64,
    pub bytes: u64,
}

impl Entry {
    /// `optimizer/state.pt`, for records and messages.
    pub fn shown(&self) -> String {
        self.path.join("/")
    }
}

/// The training-state entries of the checkpoint directory `unit`, in name order. An empty
/// list: nothing to slim.
pub fn training_state(unit: &Path, set: &SlimFiles) -> io::Result<Vec<Entry>> {
    let children = match set {
        SlimFiles::Generic(globs) => {
            let mut entries = generic(unit, globs)?;
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(entries);
        }
        _ => children(unit)?,
    };
    let wanted = |c: &Child| match set {
        SlimFiles::HuggingFace => huggingface(unit, c, &children),
        SlimFiles::DeepSpeed => deepspeed(c, &children),
        SlimFiles::OpenSora => c.name == "optimizer" || c.name.starts_with("lr_scheduler"),
        SlimFiles::Orbax(items) => c.is_dir && items.contains(&c.name),
        SlimFiles::Generic(_) => false,
    };
    let mut entries = children
        .iter()
        .filter(|c| wanted(c))
        .map(|c| measure(unit, vec![c.name.clone()]))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// A direct child of the checkpoint (symlinks and names that are not UTF-8 left out: never
/// entries).
struct Child {
    name: String,
    is_dir: bool,
}

fn children(unit: &Path) -> io::Result<Vec<Child>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(unit)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if kind.is_symlink() || !(kind.is_dir() || kind.is_file()) {
            continue;
        }
        out.push(Child {
            name,
            is_dir: kind.is_dir(),
        });
    }
    Ok(out)
}

/// HF transformers' `Trainer` (`_save_optimizer_and_scheduler`, `_save_rng_state`) and
/// Accelerate's FSDP and DeepSpeed savers. Never a weights file, `config.json`,
/// `trainer_state.json` or an adapter.
// Exact names, as the frameworks write them: `OPTIMIZER.PT` is not theirs.
#[allow(clippy::case_sensitive_file_extension_comparisons)]
fn huggingface(unit: &Path, c: &Child, all: &[Child]) -> bool {
    let numbered = |name: &str, prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if c.is_dir {
        // FSDP SHARDED_STATE_DICT: `optimizer_0/`. DeepSpeed's engine checkpoint
        // `global_step{N}/` holds the only copy of the weights when ZeRO-3 saves without
        // gathering them (`stage3_gather_16bit_weights_on_model_save = false`): it goes only
        // when the weights are also at the top.
        numbered(&c.name, "optimizer_", "")
            || (numbered(&c.name, "global_step", "")
                && all.iter().any(|c| holds_hf_weights(unit, c)))
    } else {
        matches!(
            c.name.as_str(),
            "optimizer.pt" | "optimizer.bin" | "scheduler.pt" | "scaler.pt"
        ) || numbered(&c.name, "optimizer_", ".bin")
            || (c.name.starts_with("rng_state") && c.name.ends_with(".pth"))
    }
}

/// A weights file HF writes at the top of a checkpoint (full or sharded, or an adapter) that
/// holds tensors. Under ZeRO-3 without gathering, `Trainer.save_model` first saves an empty
/// state dict (`_save(output_dir, state_dict={})`) and then removes only `model.safetensors`
/// and `pytorch_model.bin`: a PEFT model leaves an empty `adapter_model.safetensors` beside
/// `global_step{N}/`, which then holds the only copy of the weights. So a name is not enough.
#[allow(clippy::case_sensitive_file_extension_comparisons)]
fn holds_hf_weights(unit: &Path, c: &Child) -> bool {
    let n = c.name.as_str();
    let named = !c.is_dir
        && ((n.starts_with("model") && n.ends_with(".safetensors"))
            || (n.starts_with("pytorch_model") && n.ends_with(".bin"))
            || n.starts_with("adapter_model."));
    named && holds_tensors(&unit.join(n)).unwrap_or(false)
}

/// Above this, a pickled `.bin` is taken to hold tensors: `torch.save({})` writes about 1 KiB.
const EMPTY_PICKLE_AT_MOST: u64 = 64 * 1024;

/// Whether a weights file holds tensor data (when in doubt, no). A safetensors file is an
/// 8-byte little-endian header length, the JSON header, then the tensor data: an empty state
/// dict has nothing after its header. Other formats: by size.
#[allow(clippy::case_sensitive_file_extension_comparisons)]
fn holds_tensors(path: &Path) -> io::Result<bool> {
    use std::io::Read;
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Ok(false);
    }
    if !path.to_string_lossy().ends_with(".safetensors") {
        return Ok(meta.len() > EMPTY_PICKLE_AT_MOST);
    }
    let mut header = [0u8; 8];
    std::fs::File::open(path)?.read_exact(&mut header)?;
    let header_len = u64::from_le_bytes(header);
    Ok(header_len
        .checked_add(8)
        .is_some_and(|data_at| meta.len() > data_at))
}

/// DeepSpeed's engine: `*optim_states.pt` go, `*model_states.pt` stay. Under ZeRO-3 the
/// model states are per-rank placeholders (`zero_pp_rank_*_model_states.pt`) and the weights
/// exist only inside the optimizer states (`zero_to_fp32.py` rebuilds them from there): then
/// nothing goes. Without a `mp_rank_*_model_states.pt` (the weights) nothing goes either.
fn deepspeed(c: &Child, all: &[Child]) -> bool {
    let model_states = |c: &&Child| !c.is_dir && c.name.ends_with("model_states.pt");
    let weights = all
        .iter()
        .filter(model_states)
        .any(|c| c.name.starts_with("mp_rank_"));
    let zero3 = all
        .iter()
        .filter(model_states)
        .any(|c| c.name.contains("zero_pp_rank_"));
    weights && !zero3 && !c.is_dir && c.name.ends_with("optim_states.pt")
}

/// Every entry whose path below `unit` matches one of `globs` (`*` stays within one name); a
/// matching directory is taken whole, symlinks are never matched nor followed.
fn generic(unit: &Path, globs: &[glob::Pattern]) -> io::Result<Vec<Entry>> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut out = Vec::new();
    let mut walk = WalkDir::new(unit)
        .follow_links(false)
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            e.into_io_error()
                .unwrap_or_else(|| io::Error::other("unreadable"))
        })?;
        let kind = entry.file_type();
        if kind.is_symlink() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(unit) else {
            continue;
        };
        let Some(path) = relative
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        if globs
            .iter()
            .any(|g| g.matches_with(&path.join("/"), options))
        {
            out.push(measure(unit, path)?);
            if kind.is_dir() {
                walk.skip_current_dir();
            }
        }
    }
    Ok(out)
}

/// What the entry at `path` below `unit` holds.
fn measure(unit: &Path, path: Vec<String>) -> io::Result<Entry> {
    let full = path.iter().fold(unit.to_owned(), |p, name| p.join(name));
    let meta = std::fs::symlink_metadata(&full)?;
    let (mut files, mut bytes) = (0, 0);
    if meta.is_dir() {
        for entry in WalkDir::new(&full).follow_links(false) {
            let entry = entry.map_err(|e| {
                e.into_io_error()
                    .unwrap_or_else(|| io::Error::other("unreadable"))
            })?;
            let meta = entry.metadata().map_err(io::Error::from)?;
            if !meta.is_dir() {
                files += 1;
                bytes += meta.len();
            }
        }
    } else {
        files = 1;
        bytes = meta.len();
    }
    Ok(Entry {
        path,
        is_dir: meta.is_dir(),
        files,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if f.ends_with('/') {
                std::fs::create_dir_all(&path).unwrap();
            } else {
                std::fs::write(&path, b"12345").unwrap();
            }
        }
        dir
    }

    /// A safetensors file as `safetensors.torch.save_file` writes it: with one tensor of
    /// 16 bytes, or (`tensors` false) an empty state dict, nothing after the header.
    fn safetensors(path: &Path, tensors: bool) {
        let header: &[u8] = if tensors {
            br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        } else {
            br#"{"__metadata__":{"format":"pt"}}"#
        };
        let mut bytes = u64::try_from(header.len()).unwrap().to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        if tensors {
            bytes.extend_from_slice(&[0u8; 16]);
        }
        std::fs::write(path, bytes).unwrap();
    }

    fn shown(unit: &Path, set: &SlimFiles) -> Vec<String> {
        training_state(unit, set)
            .unwrap()
            .iter()
            .map(Entry::shown)
            .collect()
    }

    #[test]
    fn huggingface_training_state_goes_and_weights_and_metadata_stay() {
        let dir = tree(&[
            "model.safetensors",
            "config.json",
            "trainer_state.json",
            "training_args.bin",
            "adapter_model.safetensors",
            "adapter_config.json",
            "optimizer.pt",
            "scheduler.pt",
            "scaler.pt",
            "rng_state.pth",
            "rng_state_3.pth",
            "optimizer_0/shard.distcp",
            "optimizer_0.bin",
            "global_step500/mp_rank_00_model_states.pt",
            "global_step500/zero_pp_rank_0_mp_rank_00_optim_states.pt",
            "pytorch_model_fsdp_0/shard.distcp",
        ]);
        safetensors(&dir.path().join("model.safetensors"), true);
        assert_eq!(
            shown(dir.path(), &SlimFiles::HuggingFace),
            [
                "global_step500",
                "optimizer.pt",
                "optimizer_0",
                "optimizer_0.bin",
                "rng_state.pth",
                "rng_state_3.pth",
                "scaler.pt",
                "scheduler.pt"
            ]
        );
        let all = training_state(dir.path(), &SlimFiles::HuggingFace).unwrap();
        let global = all.iter().find(|e| e.shown() == "global_step500").unwrap();
        assert_eq!((global.files, global.bytes, global.is_dir), (2, 10, true));
    }

    #[test]
    fn huggingface_keeps_global_step_beside_a_weights_file_that_holds_no_tensors() {
        // PEFT under ZeRO-3 without gathering: `Trainer.save_model` saves an empty state dict,
        // removes only model.safetensors / pytorch_model.bin, and the empty adapter stays
        // beside the engine checkpoint that holds the only copy of the weights.
        let dir = tree(&[
            "adapter_config.json",
            "trainer_state.json",
            "global_step500/zero_pp_rank_0_mp_rank_00_model_states.pt",
            "global_step500/zero_pp_rank_0_mp_rank_00_optim_states.pt",
            "rng_state_0.pth",
        ]);
        safetensors(&dir.path().join("adapter_model.safetensors"), false);
        assert_eq!(
            shown(dir.path(), &SlimFiles::HuggingFace),
            ["rng_state_0.pth"]
        );
        // The same with a pickled empty adapter, or a dummy model file left by an older
        // transformers: a name alone is no proof of weights.
        std::fs::remove_file(dir.path().join("adapter_model.safetensors")).unwrap();
        std::fs::write(dir.path().join("adapter_model.bin"), [0u8; 1100]).unwrap();
        safetensors(&dir.path().join("model.safetensors"), false);
        assert_eq!(
            shown(dir.path(), &SlimFiles::HuggingFace),
            ["rng_state_0.pth"]
        );
        // A real adapter at the top: the engine checkpoint is training state again.
        safetensors(&dir.path().join("adapter_model.safetensors"), true);
        assert_eq!(
            shown(dir.path(), &SlimFiles::HuggingFace),
            ["global_step500", "rng_state_0.pth"]
        );
    }

    #[test]
    fn huggingface_keeps_global_step_when_it_holds_the_only_weights() {
        // ZeRO-3 without gathering: HF writes no weights file, the engine checkpoint is all.
        let dir = tree(&[
            "config.json",
            "trainer_state.json",
            "global_step500/zero_pp_rank_0_mp_rank_00_model_states.pt",
            "global_step500/zero_pp_rank_0_mp_rank_00_optim_states.pt",
            "rng_state_0.pth",
        ]);
        assert_eq!(
            shown(dir.path(), &SlimFiles::HuggingFace),
            ["rng_state_0.pth"]
        );
    }

    #[test]
    fn a_symlinked_entry_is_never_listed() {
        let dir = tree(&["model.safetensors", "elsewhere/optimizer.pt"]);
        let unit = dir.path().join("unit");
        std::fs::create_dir(&unit).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("elsewhere/optimizer.pt"),
            unit.join("optimizer.pt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), unit.join("optimizer_0")).unwrap();
        assert!(shown(&unit, &SlimFiles::HuggingFace).is_empty());
        let globs = SlimFiles::Generic(vec![glob::Pattern::new("optimizer*/*").unwrap()]);
        assert!(shown(&unit, &globs).is_empty());
    }

    #[test]
    fn deepspeed_removes_optimizer_states_only_when_the_model_states_hold_the_weights() {
        let zero2 = tree(&[
            "mp_rank_00_model_states.pt",
            "zero_pp_rank_0_mp_rank_00_optim_states.pt",
            "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt",
        ]);
        assert_eq!(
            shown(zero2.path(), &SlimFiles::DeepSpeed),
            [
                "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt",
                "zero_pp_rank_0_mp_rank_00_optim_states.pt"
            ]
        );
        let zero3 = tree(&[
            "zero_pp_rank_0_mp_rank_00_model_states.pt",
            "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        ]);
        assert!(shown(zero3.path(), &SlimFiles::DeepSpeed).is_empty());
    }

    #[test]
    fn opensora_and_orbax_name_their_training_state() {
        let sora = tree(&[
            "model/model.safetensors",
            "ema.pt",
            "running_states.json",
            "optimizer/state.bin",
            "lr_scheduler.pt",
        ]);
        assert_eq!(
            shown(sora.path(), &SlimFiles::OpenSora),
            ["lr_scheduler.pt", "optimizer"]
        );
        let orbax = tree(&[
            "params/x",
            "opt_state/x",
            "metrics/metrics",
            "opt_state.txt",
        ]);
        let items = SlimFiles::Orbax(vec!["opt_state".to_owned()]);
        assert_eq!(shown(orbax.path(), &items), ["opt_state"]);
    }

    #[test]
    fn generic_globs_match_paths_below_the_checkpoint_one_name_per_star() {
        let dir = tree(&[
            "weights.pt",
            "adam.optim",
            "optimizer/a.bin",
            "optimizer/sub/b.bin",
            "nested/more.optim",
        ]);
        let globs = SlimFiles::Generic(vec![
            glob::Pattern::new("optimizer/*").unwrap(),
            glob::Pattern::new("*.optim").unwrap(),
        ]);
        // `*.optim` does not reach into `nested/`; `optimizer/sub` goes whole.
        assert_eq!(
            shown(dir.path(), &globs),
            ["adam.optim", "optimizer/a.bin", "optimizer/sub"]
        );
    }
}
