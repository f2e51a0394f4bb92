//! "Did you mean": the closest of some known names to a name that matched none of them, so a
//! typo (`eval_los`, `val_loss` for `eval_loss`) is answered with the fix, not only the fault.

/// The candidate closest to `wanted` by edit distance (transpositions count as one edit,
/// case is ignored), if it is close enough to be a likely typo: at most a third of the
/// longer name's characters differ, and at least one of them is the same.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        // The distance is at least the difference in length: far longer names (a crafted
        // file's) are not worth the quadratic comparison.
        .filter(|c| {
            c.chars().count().abs_diff(wanted_lower.chars().count()) * 3
                <= wanted_lower.chars().count().max(1) * 2
        })
        .map(|c| {
            let distance = strsim::damerau_levenshtein(&wanted_lower, &c.to_lowercase());
            (distance, c)
        })
        .filter(|&(distance, c)| {
            let longer = wanted.chars().count().max(c.chars().count());
            distance * 3 <= longer && distance < longer
        })
        // Ties: the first in the candidates' order.
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    const HF: [&str; 6] = [
        "epoch",
        "eval_loss",
        "eval_runtime",
        "grad_norm",
        "learning_rate",
        "loss",
    ];

    #[test]
    fn typos_find_the_key_they_meant() {
        assert_eq!(closest("eval_los", HF), Some("eval_loss"));
        assert_eq!(closest("val_loss", HF), Some("eval_loss"));
        assert_eq!(closest("eval_lsos", HF), Some("eval_loss"));
        assert_eq!(closest("Eval_Loss", HF), Some("eval_loss"));
        assert_eq!(
            closest("val/los", ["train/loss", "val/loss"]),
            Some("val/loss")
        );
    }

    #[test]
    fn unrelated_names_find_nothing() {
        assert_eq!(closest("accuracy", HF), None);
        assert_eq!(closest("x", ["y"]), None);
        assert_eq!(closest("eval_loss", []), None);
    }
}
