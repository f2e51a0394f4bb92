//! What each configured rule thinks of one checkpoint, kept or not: "rank 2 of 9 by
//! eval_loss", "older than the last 3". A deletion's detail is the rules that did not keep it;
//! `ckptd explain` shows all of them, so a user sees why a rule did or did not keep a
//! checkpoint without reading the policy against the run by hand.

/// One rule's view of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The rule as configured: `keep_last 3`, `keep_best 2 by eval_loss (min)`.
    pub rule: String,
    /// Whether this rule keeps the checkpoint.
    pub keeps: bool,
    /// What it says: "2nd of the last 3", "rank 4 of 9 by eval_loss, keep_best is 2".
    pub text: String,
}

/// "1st", "2nd", "3rd", "4th", "11th", "22nd".
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals_read_as_english() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
