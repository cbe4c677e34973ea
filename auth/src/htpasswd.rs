//! htpasswd files (`user:hash` lines, as `htpasswd -B` writes them). Only bcrypt and argon2id
//! hashes are accepted; anything weaker stops the load with the line and the reason.

use crate::error::ConfigError;
use crate::names::check_name;
use crate::password::StoredHash;
use std::collections::HashSet;
use std::path::Path;

/// One user of an htpasswd file.
pub(crate) struct Entry {
    pub(crate) user: String,
    pub(crate) hash: StoredHash,
    /// 1-based line number.
    pub(crate) line: u64,
}

/// Parses `content`, the text of the htpasswd file `path`. Blank lines and lines starting with
/// `#` are skipped, as Apache does.
pub(crate) fn parse(path: &Path, content: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    for (index, raw_line) in content.lines().enumerate() {
        let line = u64::try_from(index).map_or(u64::MAX, |i| i.saturating_add(1));
        let text = raw_line.trim_end_matches('\r').trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = text.split_once(':') else {
            return Err(ConfigError::invalid(path, Some(line), "expected `user:hash`"));
        };
        check_name(user)
            .map_err(|why| ConfigError::invalid(path, Some(line), format!("user `{}` {why}", user.escape_debug())))?;
        if !seen.insert(user.to_owned()) {
            return Err(ConfigError::invalid(path, Some(line), format!("user `{user}` appears twice")));
        }
        let hash = StoredHash::parse(hash)
            .map_err(|why| ConfigError::invalid(path, Some(line), format!("the hash of user `{user}` {why}")))?;
        entries.push(Entry { user: user.to_owned(), hash, line });
    }
    Ok(entries)
}
