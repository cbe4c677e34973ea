//! Did-you-mean hints for unknown config-file keys, from the option table.

use super::options::file_options;

/// Whether `key` lies inside the section `section` (`storage.local.rootdir` in `storage.local`).
pub(crate) fn is_under(key: &str, section: &str) -> bool {
    key.strip_prefix(section).is_some_and(|rest| rest.starts_with('.'))
}

/// The hint after "unknown key `x`": the keys of a section given a value, the nearest key (the
/// same letters without `_`, `-`, `.`, or at most two edits away), or the list of known keys.
pub(crate) fn unknown_key_hint(key: &str, is_section: bool) -> String {
    if is_section {
        let keys: Vec<String> =
            file_options().filter(|o| is_under(o.key, key)).map(|o| format!("`{}`", o.key)).collect();
        return format!(" (a section, not a value: use {})", keys.join(", "));
    }
    let squash = |s: &str| s.replace(['_', '-', '.'], "");
    let best = file_options()
        .map(|o| {
            let d = if squash(o.key) == squash(key) { 0 } else { edit_distance(o.key, key) };
            (d, o.key)
        })
        .min();
    match best {
        Some((d, k)) if d <= 2 => format!(" (did you mean `{k}`?)"),
        _ => format!(" (known keys: {})", file_options().map(|o| o.key).collect::<Vec<_>>().join(", ")),
    }
}

/// Levenshtein distance, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur.push(subst.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
