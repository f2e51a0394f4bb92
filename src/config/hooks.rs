//! The hook keys of a watch: `on_complete` and `before_delete`, each a command as an argv
//! array (run directly, never through a shell, so a checkpoint name cannot inject anything),
//! and `hook_timeout`. The program must be an absolute path: the daemon runs as root from a
//! unit whose PATH is not the user's, and a bare name would run whatever PATH finds first.

use std::time::Duration;

use toml::Spanned;

use super::error::Errors;
use super::raw::RawWatch;

/// How long a hook may run when `hook_timeout` is not set.
pub const HOOK_TIMEOUT: Duration = Duration::from_mins(1);

/// A watch's hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommands {
    /// Run once per checkpoint the daemon sees complete.
    pub on_complete: Option<Vec<String>>,
    /// Run before each deletion; a non-zero exit (or the timeout) vetoes it.
    pub before_delete: Option<Vec<String>>,
    pub timeout: Duration,
}

impl HookCommands {
    pub fn none() -> Self {
        Self {
            on_complete: None,
            before_delete: None,
            timeout: HOOK_TIMEOUT,
        }
    }
}

/// Validates the hook keys; each mistake is pushed with its location.
pub(super) fn hooks(e: &mut Errors<'_>, raw: &RawWatch) -> HookCommands {
    let timeout = raw
        .hook_timeout
        .as_ref()
        .and_then(|t| super::validate::duration(e, Some(t), "hook_timeout", false))
        .unwrap_or(HOOK_TIMEOUT);
    if let (Some(t), None, None) = (&raw.hook_timeout, &raw.on_complete, &raw.before_delete) {
        e.push(
            t.span(),
            "`hook_timeout` does nothing without `on_complete` or `before_delete`",
        );
    }
    HookCommands {
        on_complete: command(e, raw.on_complete.as_ref(), "on_complete"),
        before_delete: command(e, raw.before_delete.as_ref(), "before_delete"),
        timeout,
    }
}

fn command(
    e: &mut Errors<'_>,
    value: Option<&Spanned<Vec<Spanned<String>>>>,
    key: &str,
) -> Option<Vec<String>> {
    let value = value?;
    let Some(program) = value.get_ref().first() else {
        e.push(
            value.span(),
            format!("`{key}` is empty: give the command as an array, program first, such as [\"/usr/local/bin/notify\", \"--x\"]"),
        );
        return None;
    };
    if !program.get_ref().starts_with('/') {
        e.push(
            program.span(),
            format!(
                "`{key}`: the program \"{}\" must be an absolute path (the daemon's PATH is not yours; `command -v {}` tells where it is)",
                program.get_ref(),
                program.get_ref()
            ),
        );
        return None;
    }
    if let Some(nul) = value.get_ref().iter().find(|a| a.get_ref().contains('\0')) {
        e.push(
            nul.span(),
            format!("`{key}`: an argument contains a NUL byte"),
        );
        return None;
    }
    Some(
        value
            .get_ref()
            .iter()
            .map(|a| a.get_ref().clone())
            .collect(),
    )
}
