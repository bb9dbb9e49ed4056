//! "did you mean" suggestions for misspelt names.

/// The candidate closest to `name`, if one is close enough to be a likely
/// misspelling (case-insensitive Damerau–Levenshtein distance of at most a
/// third of the longer name, and at least 1).
///
/// Ties go to the earlier candidate, so pass candidates in a meaningful
/// order (file order, or most common first).
///
/// ```
/// assert_eq!(berth_config::did_you_mean("timout", ["jobs", "timeout"]), Some("timeout"));
/// assert_eq!(berth_config::did_you_mean("xyz", ["timeout"]), None);
/// ```
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
        let longer = name.chars().count().max(candidate.chars().count());
        let limit = (longer / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("enviroment", ["hosts", "environment"]),
            Some("environment")
        );
        assert_eq!(did_you_mean("lcoal", ["local", "ssh"]), Some("local"));
        assert_eq!(did_you_mean("Timeout", ["timeout"]), Some("timeout"));
    }

    #[test]
    fn prefers_the_closest_then_the_first() {
        assert_eq!(did_you_mean("host", ["hosts", "host"]), Some("host"));
        assert_eq!(did_you_mean("ab", ["ac", "ad"]), Some("ac"));
    }

    #[test]
    fn suggests_nothing_when_far() {
        assert_eq!(did_you_mean("platform", ["jobs", "timeout"]), None);
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), None);
    }
}
