//! The slimming keys: accepted where the layout's training state is in files of its own,
//! refused with the reason and the key's line:column elsewhere.

use super::tests::{assert_one_error, parse};
use crate::slim::SlimFiles;

fn watch(layout: &str, extra: &str) -> String {
    format!(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"{layout}\"\nkeep_last = 3\n{extra}"
    )
}

#[test]
fn slim_after_takes_the_layouts_own_file_set() {
    for (layout, set) in [
        ("huggingface", SlimFiles::HuggingFace),
        ("deepspeed", SlimFiles::DeepSpeed),
        ("opensora", SlimFiles::OpenSora),
    ] {
        let config = parse(&watch(layout, "slim_after = 2\n")).unwrap();
        let w = &config.watches[0];
        assert_eq!(w.policy.slim_after, Some(2), "{layout}");
        assert_eq!(w.slim_files.as_ref(), Some(&set), "{layout}");
    }
    let config = parse(&watch("huggingface", "slim_after = 0\n")).unwrap();
    assert_eq!(config.watches[0].policy.slim_after, Some(0));
    let config = parse(&watch("huggingface", "")).unwrap();
    assert_eq!(config.watches[0].policy.slim_after, None);
    assert!(config.watches[0].slim_files.is_none());
}

#[test]
fn defaults_give_slim_after_to_every_watch() {
    let text = "[defaults]\nslim_after = 1\n\n[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 3\n";
    let config = parse(text).unwrap();
    assert_eq!(config.watches[0].policy.slim_after, Some(1));
}

#[test]
fn layouts_whose_optimizer_state_shares_files_with_the_weights_are_refused() {
    for (layout, extra, why) in [
        ("lightning", "", "layout lightning keeps optimizer state inside the .ckpt file with the weights; it cannot be slimmed"),
        ("nemo", "", "layout nemo keeps optimizer state inside the .ckpt file with the weights"),
        ("dcp", "pattern = \"step-{step}\"\n", "layout dcp keeps optimizer state inside the same DCP shards as the weights"),
        ("torchtitan", "", "layout torchtitan keeps optimizer state inside the same DCP shards"),
        ("megatron", "", "layout megatron keeps optimizer state inside the same torch_dist/DCP shards"),
    ] {
        assert_one_error(&watch(layout, &format!("{extra}slim_after = 1\n")), &format!("{}:14:", 6 + usize::from(!extra.is_empty())), why);
    }
}

#[test]
fn orbax_needs_slim_items_and_generic_needs_slim_files() {
    assert_one_error(
        &watch("orbax", "slim_after = 1\n"),
        "6:14:",
        "layout orbax needs `slim_items`",
    );
    let config = parse(&watch(
        "orbax",
        "slim_after = 1\nslim_items = [\"opt_state\"]\n",
    ))
    .unwrap();
    assert_eq!(
        config.watches[0].slim_files,
        Some(SlimFiles::Orbax(vec!["opt_state".to_owned()]))
    );
    let generic = |extra: &str| {
        watch(
            "generic",
            &format!("pattern = \"step_{{step}}\"\nslim_after = 1\n{extra}"),
        )
    };
    assert_one_error(&generic(""), "7:14:", "layout generic needs `slim_files`");
    let config = parse(&generic("slim_files = [\"optimizer/*\", \"*.optim\"]\n")).unwrap();
    assert!(matches!(
        &config.watches[0].slim_files,
        Some(SlimFiles::Generic(globs)) if globs.len() == 2
    ));
}

#[test]
fn slim_items_and_slim_files_are_checked_and_refused_on_other_layouts() {
    assert_one_error(
        &watch(
            "huggingface",
            "slim_after = 1\nslim_items = [\"opt_state\"]\n",
        ),
        "7:14:",
        "`slim_items` is only for layout \"orbax\"",
    );
    assert_one_error(
        &watch(
            "orbax",
            "slim_after = 1\nslim_items = [\"o\"]\nslim_files = [\"x\"]\n",
        ),
        "8:14:",
        "`slim_files` is only for layout \"generic\"",
    );
    assert_one_error(
        &watch("orbax", "slim_after = 1\nslim_items = [\"a/b\"]\n"),
        "7:15:",
        "\"a/b\" is not the name of an item subdirectory",
    );
    assert_one_error(
        &watch("orbax", "slim_items = [\"opt_state\"]\n"),
        "6:14:",
        "`slim_items` does nothing without `slim_after`",
    );
    let generic = |globs: &str| {
        watch(
            "generic",
            &format!("pattern = \"step_{{step}}\"\nslim_after = 1\nslim_files = {globs}\n"),
        )
    };
    assert_one_error(&generic("[\"../x\"]"), "8:15:", "no `..`");
    assert_one_error(&generic("[\"/abs\"]"), "8:15:", "must be relative");
    assert_one_error(
        &generic("[\"*\"]"),
        "8:15:",
        "matches every entry of the checkpoint",
    );
    assert_one_error(&generic("[\"**/*\"]"), "8:15:", "matches every entry");
    assert_one_error(&generic("[\"opt[\"]"), "8:15:", "`slim_files`: \"opt[\"");
    assert_one_error(&generic("[]"), "8:14:", "`slim_files` is empty");
    assert_one_error(
        &watch("huggingface", "slim_after = -1\n"),
        "6:14:",
        "`slim_after` must be 0 or more",
    );
}

#[test]
fn slimming_cannot_be_set_per_run() {
    let config = parse(&watch("huggingface", "run_overrides = true\n")).unwrap();
    let error = super::tests::one_override_error(
        &config.watches[0],
        "slim_after = 1\n",
        "`slim_after` cannot be set per run",
    );
    assert_eq!((error.line, error.column), (1, 14));
}
